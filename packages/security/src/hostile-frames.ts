/**
 * @module hostile-frames
 * TEST ONLY: the frames a hostile sandbox writes into its agent's channel (security group J), as
 * bytes. The same bytes are written from inside the sandbox (channel-probes.py, into every fd of
 * PID 1 it can open) and, as the positive control, straight into the agent's pipe from the host
 * (channel-injection.ts), where the server must catch each one as a protocol violation.
 *
 * Channel ids of the crafted frames are far above any the server opens in a short test (it counts
 * up from 1), so every one of them is a frame for a channel nobody opened, whatever else runs.
 */
import { AgentFrame, HostFrame, MAX_PAYLOAD, encodeFrame } from '@airlock/agent';

export interface HostileFrame {
  name: string;
  /** What the server must see in it. */
  why: string;
  bytes: Buffer;
}

const UNOPENED = 0x7fff_fff0;
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
/** A frame whose length field says `length` (out of bounds or cut short), with `body` after it. */
const rawLength = (length: number, body: Buffer) => Buffer.concat([u32(length), body]);

export const CRAFTED_FRAMES: readonly HostileFrame[] = [
  { name: 'length-zero', why: 'a length below the header', bytes: rawLength(0, Buffer.alloc(16)) },
  { name: 'length-huge', why: 'a length of 4 GiB', bytes: rawLength(0xffff_ffff, Buffer.alloc(16)) },
  { name: 'length-over-max', why: 'a length one byte past the 1 MiB bound', bytes: rawLength(5 + MAX_PAYLOAD + 1, Buffer.alloc(16)) },
  { name: 'unknown-type', why: 'a type no agent sends', bytes: encodeFrame(0x7f, 1, Buffer.from('x')) },
  { name: 'host-type', why: "a host's EXEC coming from the agent", bytes: encodeFrame(HostFrame.Exec, UNOPENED, Buffer.alloc(12)) },
  { name: 'second-hello', why: 'HELLO after the first one', bytes: encodeFrame(AgentFrame.Hello, 0, Buffer.from('forged\0')) },
  { name: 'error-on-control', why: 'ERROR on the control channel', bytes: encodeFrame(AgentFrame.Error, 0, Buffer.concat([u32(1), Buffer.from('x\0')])) },
  { name: 'forged-exit', why: 'EXITED (code 0) for a channel nobody opened', bytes: encodeFrame(AgentFrame.Exited, UNOPENED + 1, Buffer.alloc(8)) },
  { name: 'forged-output', why: 'STDOUT for a channel nobody opened', bytes: encodeFrame(AgentFrame.Stdout, UNOPENED + 2, Buffer.from('forged output\n')) },
  { name: 'forged-start', why: 'STARTED for a channel nobody opened', bytes: encodeFrame(AgentFrame.Started, UNOPENED + 3, u32(42)) },
  { name: 'pong-unopened', why: 'PONG for a ping nobody sent', bytes: encodeFrame(AgentFrame.Pong, UNOPENED + 4, Buffer.from('airlock-0')) },
  {
    name: 'garbage-dir-entries',
    why: 'DIR_ENTRIES that do not decode, for a channel nobody opened',
    bytes: encodeFrame(AgentFrame.DirEntries, UNOPENED + 5, Buffer.from([0x66, 1, 2])),
  },
  // Cut short: the decoder waits for the rest, which the agent's next frames then fill, so the
  // following header is read from the middle of a frame and is checked like any other.
  { name: 'cut-short', why: 'a frame cut short, then the agent’s own frames', bytes: rawLength(5 + 15, Buffer.from([AgentFrame.Stdout, 0, 0, 0, 1])) },
];

/** mulberry32: a small seeded generator, so that a run's random frames can be reproduced from its seed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` whole frames of random type, channel and payload, then `noise` random bytes. */
export function randomFrames(seed: number, count = 48, noise = 256): HostileFrame[] {
  const next = generator(seed);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
  const out: HostileFrame[] = [];
  for (let i = 0; i < count; i++) {
    const type = Math.floor(next() * 256);
    const channel = Math.floor(next() * 2 ** 32);
    out.push({ name: `random-${i}`, why: 'random type, channel and payload', bytes: encodeFrame(type, channel, bytes(Math.floor(next() * 65))) });
  }
  out.push({ name: 'random-noise', why: 'random bytes', bytes: bytes(noise) });
  return out;
}

/** The whole attack in one buffer, starting at crafted frame `rotate` (so that attacks differ in what hits first). */
export function attackBlob(seed: number, rotate = 0): { blob: Buffer; frames: number; ends: number[] } {
  const r = rotate % CRAFTED_FRAMES.length;
  const all = [...CRAFTED_FRAMES.slice(r), ...CRAFTED_FRAMES.slice(0, r), ...randomFrames(seed)];
  const ends: number[] = [];
  let at = 0;
  for (const f of all) ends.push((at += f.bytes.length));
  return { blob: Buffer.concat(all.map((f) => f.bytes)), frames: all.length, ends };
}

/** Frames of a blob fully written when `written` bytes of it got through. */
export function framesWritten(ends: number[], written: number): number {
  return ends.filter((e) => e <= written).length;
}

/** Frames for channels nobody opened, for a flood (the fairness measurement). */
export function unknownChannelFlood(count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => encodeFrame(AgentFrame.Stdout, UNOPENED - 1 - i, Buffer.from('flood'))));
}
