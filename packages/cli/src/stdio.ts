/**
 * @module stdio
 * The CLI's terminal side: read piped stdin, copy an exec stream's bytes to stdout/stderr as
 * they arrive (honouring back-pressure), and turn SIGINT/SIGTERM into an abort.
 */
import type { Writable } from 'node:stream';
import type { ExecExit, ExecStream } from '@airlock/sdk';
import { UsageError } from './errors.js';

const MAX_STDIN_BYTES = 8 * 1024 * 1024;

/** All of stdin when it is a pipe or file; undefined on a terminal (nothing to forward). */
export async function readPipedStdin(input: NodeJS.ReadStream = process.stdin): Promise<Uint8Array | undefined> {
  if (input.isTTY === true) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_STDIN_BYTES) throw new UsageError('stdin is larger than 8 MiB; copy the data in with `airlock cp` instead');
    chunks.push(buf);
  }
  return size === 0 ? undefined : new Uint8Array(Buffer.concat(chunks));
}

function write(out: Writable, data: Uint8Array): Promise<void> | undefined {
  if (out.write(data)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    out.on('drain', done).on('close', done).on('error', done);
  });
}

/** Copies the stream's output to the given writables and returns how the command ended. */
export async function pipeExecOutput(stream: ExecStream, stdout: Writable = process.stdout, stderr: Writable = process.stderr): Promise<ExecExit> {
  for await (const event of stream) {
    if (event.type === 'stdout') await write(stdout, event.data);
    else if (event.type === 'stderr') await write(stderr, event.data);
  }
  return stream.wait();
}

export interface Interrupt {
  readonly signal: AbortSignal;
  /** The signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** 128 + the signal number, shell style. */
  readonly exitCode: number;
  dispose(): void;
}

/**
 * The first SIGINT/SIGTERM aborts (so the caller can clean up); a second one exits at once.
 * A closed stdout (EPIPE, e.g. `| head`) also aborts.
 */
export function onInterrupt(): Interrupt {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (received !== undefined) process.exit(128 + signalNumber(sig));
    received = sig;
    controller.abort();
  };
  const onPipeError = () => controller.abort();
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.stdout.on('error', onPipeError);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    get exitCode() {
      return received === undefined ? 1 : 128 + signalNumber(received);
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.stdout.off('error', onPipeError);
    },
  };
}

function signalNumber(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1;
}
