/**
 * @module hostile-channel
 * Group J: a sandbox attacks its own agent (PID 1) and, through it, the server, as root and as the
 * default user: /proc/1/mem, ptrace, SIGSTOP, then every signal, then crafted and random frames
 * into every fd of PID 1 that it can open (channel-probes.py). The host judges each attack, never
 * the attacker: the server answers, a neighbour sandbox execs normally, and the attacked sandbox is
 * either untouched (answers an exec) or stopped in its documented state: `agent_protocol` after
 * frames, `exited` or `agent_protocol` after signals (a sandbox may end itself; nothing else may).
 *
 * Positive controls: the same frames written into the channel from the host (channel-injection.ts)
 * must end the sandbox `agent_protocol`; the non-frame attacks run on the host as root against a
 * stand-in process, where they must get through (security-suite.ts).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Api } from '@airlock/testkit/harness.js';
import { agentOutputPipe, injectIntoChannel, shimPid } from './channel-injection.js';
import { CRAFTED_FRAMES, attackBlob, framesWritten, randomFrames } from './hostile-frames.js';
import type { ChannelControl, ChannelResult, ChannelVerdict, ControlState } from './scoreboard.js';

/** channel-probes.py stays next to the TypeScript sources (tsc does not copy it). */
export const CHANNEL_PROBES_PY = fileURLToPath(new URL('../src/channel-probes.py', import.meta.url));
const SCRIPT = '/tmp/airlock-channel-probes.py';
const BLOB = '/tmp/airlock-frames.bin';

export type HostControls = Map<string, { fired: boolean; detail: string }>;

export interface ChannelContext {
  api: Api;
  runtime: string;
  dataDir: string;
  /** Seed of the random frames (the same bytes go into the host-side control). */
  seed: number;
  /** Users to attack as; bwrap has no root inside (an exec as root is refused). */
  users: ('root' | 'user')[];
  /** J2–J5 run on the host against a stand-in process: their positive controls. */
  hostControls: HostControls;
}

type Outcome = { kind: 'untouched' } | { kind: 'stopped'; reason: string | null; detail: string } | { kind: 'undocumented'; detail: string };
type Line = Record<string, any>;

const describe = (o: Outcome) =>
  o.kind === 'untouched' ? 'the sandbox answers an exec' : o.kind === 'stopped' ? `the sandbox stopped (${o.reason}: ${o.detail})` : o.detail;

/** The attacked sandbox's state as the host sees it: an exec round trip, else its recorded stop. */
export async function outcomeOf(api: Api, id: string): Promise<Outcome> {
  let last = '';
  // A few tries, each followed by a look at the record: a loaded machine may fail one exec, and a
  // violation needs a moment to be recorded as the stop.
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await api
      .call('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['echo', 'alive'], timeout: 10 })
      .catch((e: unknown) => ({ status: 0, body: String(e) }));
    if (r.status === 200 && r.body.stdout === 'alive\n') return { kind: 'untouched' };
    last = `${r.status} ${JSON.stringify(r.body).slice(0, 200)}`;
    for (let i = 0; i < 30; i++) {
      const s = await api.call('GET', `/v1/sandboxes/${id}`);
      if (s.status === 200 && s.body.state !== 'running') return { kind: 'stopped', reason: s.body.stopReason, detail: s.body.stopDetail ?? '' };
      await delay(100);
    }
  }
  return { kind: 'undocumented', detail: `the sandbox is still running but its execs fail (last: ${last})` };
}

/** Undefined if the server answers and the neighbour execs normally; else what failed. */
async function hostHeld(api: Api, neighbour: string): Promise<string | undefined> {
  const health = await api.call('GET', '/v1/health').catch(() => ({ status: 0 }));
  if (health.status !== 200) return `the server did not answer (health ${health.status})`;
  const n = await api.call('POST', `/v1/sandboxes/${neighbour}/exec`, { cmd: ['echo', 'ok'], timeout: 30 }).catch(() => ({ status: 0, body: {} }));
  return n.status === 200 && (n.body as { stdout?: string }).stdout === 'ok\n' ? undefined : `the neighbour's exec failed (${n.status})`;
}

function linesOf(stdout: string): Map<string, Line[]> {
  const out = new Map<string, Line[]>();
  for (const l of stdout.split('\n')) {
    if (!l.startsWith('{"id": ')) continue;
    try {
      const j = JSON.parse(l) as Line;
      out.set(j.id, [...(out.get(j.id) ?? []), j]);
    } catch {
      // our own frames written into our own output pipe (fd 6/8 are the probe's pipes), cut a line
    }
  }
  return out;
}

/** The sandbox under attack; a fresh one replaces it when an attack ended it. */
class Attacked {
  readonly created: string[] = [];
  #id: string | undefined;

  constructor(
    readonly api: Api,
    readonly runtime: string,
  ) {}

  async id(): Promise<string> {
    if (this.#id) return this.#id;
    const box = await this.api.create({ runtime: this.runtime, timeout: 600 });
    this.created.push(box.id);
    await this.put(box.id, SCRIPT, readFileSync(CHANNEL_PROBES_PY));
    this.#id = box.id;
    return box.id;
  }

  ended(): void {
    this.#id = undefined;
  }

  async put(id: string, path: string, body: Buffer): Promise<void> {
    const r = await this.api.call('PUT', `/v1/sandboxes/${id}/files?path=${path}`, body, { 'content-type': 'application/octet-stream' });
    if (r.status !== 200) throw new Error(`upload of ${path} into ${id} failed: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Runs one mode of channel-probes.py as `user`; the exec may die with the sandbox. */
  async run(user: string, args: Record<string, unknown>): Promise<{ id: string; lines: Map<string, Line[]>; outcome: Outcome }> {
    const id = await this.id();
    const r = await this.api.call('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['python3', SCRIPT, JSON.stringify({ target: 1, ...args })], user, timeout: 30 });
    const lines = linesOf(r.status === 200 ? `${r.body.stdout}` : '');
    const outcome = await outcomeOf(this.api, id);
    if (outcome.kind !== 'untouched') this.ended();
    return { id, lines, outcome };
  }
}

function result(id: string, verdict: ChannelVerdict, detail: string, attacks: number, control: { state: ControlState; detail: string }): ChannelResult {
  return { id, verdict, detail, attacks, control: control.state, controlDetail: control.detail };
}

const hostControl = (c: HostControls, id: string) => {
  const r = c.get(id);
  return {
    state: (r?.fired ? 'passed' : 'failed') as ControlState,
    detail: r ? `on the host as root against a stand-in process: ${r.detail}` : 'no control result',
  };
};

/** Runs group J on one runtime; returns its results and the host-side control of the frames. */
export async function probeChannel(ctx: ChannelContext): Promise<{ results: ChannelResult[]; control: ChannelControl }> {
  const { api } = ctx;
  const neighbour = (await api.create({ runtime: ctx.runtime, timeout: 600 })).id as string;
  const box = new Attacked(api, ctx.runtime);
  try {
    const control = await injectFromHost(api, ctx.runtime, ctx.dataDir, box, attackBlob(ctx.seed).blob, 'the whole attack, from the host');
    const framesControl = { state: (control.caught ? 'passed' : 'failed') as ControlState, detail: control.detail };
    const results: ChannelResult[] = [];
    for (const user of ['user', 'root'] as const) {
      if (!ctx.users.includes(user)) {
        for (const id of ['J2.mem', 'J3.ptrace', 'J5.stop', 'J4.signals', 'J1.frames']) {
          results.push(result(`${id}-${user}`, 'not applicable', `${ctx.runtime} has no ${user} inside`, 0, { state: 'not applicable', detail: '' }));
        }
        continue;
      }
      results.push(...(await attackAs(ctx, box, neighbour, user, framesControl)));
    }
    return { results, control };
  } finally {
    for (const id of [...box.created, neighbour]) await api.call('DELETE', `/v1/sandboxes/${id}`);
  }
}

async function attackAs(
  ctx: ChannelContext,
  box: Attacked,
  neighbour: string,
  user: 'root' | 'user',
  framesControl: { state: ControlState; detail: string },
): Promise<ChannelResult[]> {
  const { api } = ctx;
  const out: ChannelResult[] = [];
  // 1. mem, ptrace, stop: harmless payloads, so the sandbox must come out untouched.
  const recon = await box.run(user, { mode: 'recon' });
  const held = await hostHeld(api, neighbour);
  for (const id of ['J2.mem', 'J3.ptrace', 'J5.stop']) {
    const line = recon.lines.get(id)?.[0];
    const c = hostControl(ctx.hostControls, id);
    if (held) out.push(result(`${id}-${user}`, 'escaped', held, 1, c));
    else if (recon.outcome.kind !== 'untouched') out.push(result(`${id}-${user}`, 'escaped', `after harmless payloads ${describe(recon.outcome)}`, 1, c));
    else if (!line || 'error' in line) out.push(result(`${id}-${user}`, 'error', line ? `probe crashed: ${line.error}` : 'no result', 1, c));
    else out.push(result(`${id}-${user}`, line.fired ? 'contained' : 'blocked', `${line.detail}; ${describe(recon.outcome)}`, 1, c));
  }

  // 2. Every signal, KILL last: PID 1 may die of one (gVisor delivers them), ending only its own sandbox.
  const sig = await box.run(user, { mode: 'signals' });
  // Each signal is announced before it is sent: the last one announced without a result is the one PID 1 died of.
  const announced = (sig.lines.get('J4.signal') ?? []).filter((s) => s.result === undefined).map((s) => s.signal as string);
  const sent = (sig.lines.get('J4.signal') ?? []).filter((s) => s.result !== undefined);
  const sigHeld = await hostHeld(api, neighbour);
  const sigAttacks = announced.length;
  const fatal = announced.length > sent.length ? `; PID 1 died of ${announced[sent.length]}` : '';
  const sigDetail = `${sent.map((s) => `${s.signal.replace('SIG', '')} ${s.result}`).join(', ') || 'no report'}${fatal}; ${describe(sig.outcome)}`;
  const documentedStop = sig.outcome.kind === 'stopped' && ['exited', 'agent_protocol'].includes(sig.outcome.reason ?? '');
  const sigVerdict: ChannelVerdict = sigHeld ? 'escaped' : sig.outcome.kind === 'untouched' ? 'blocked' : documentedStop ? 'contained' : 'escaped';
  out.push(result(`J4.signals-${user}`, sigVerdict, sigHeld ?? sigDetail, sigAttacks, hostControl(ctx.hostControls, 'J4.signals')));

  // 3. Frames into every fd that opened for writing, one fd per exec so the host can tell which reached the channel.
  const fds = recon.lines.get('fds')?.[0] as { open: number[]; denied: Record<string, string> } | undefined;
  if (!fds) {
    out.push(result(`J1.frames-${user}`, 'error', 'the reconnaissance gave no list of fds', 0, framesControl));
    return out;
  }
  const order = [...fds.open.filter((f) => f > 1), ...fds.open.filter((f) => f <= 1)];
  let frames = 0;
  const perFd: string[] = [];
  const reached: string[] = [];
  const problems: string[] = [];
  for (const [i, fd] of order.entries()) {
    const { blob, ends } = attackBlob(ctx.seed, i);
    const id = await box.id();
    await box.put(id, BLOB, blob);
    const r = await box.run(user, { mode: 'frames', fd, blob: BLOB });
    const line = r.lines.get('J1.frames')?.[0];
    // A write that reached the channel usually takes its own report down with it: count the plan then.
    const written = line ? framesWritten(ends, line.bytes) : r.outcome.kind === 'stopped' ? ends.length : 0;
    frames += written;
    perFd.push(`${fd}: ${written}${line ? (written === 0 ? ` (${line.detail})` : '') : '?'}`);
    if (r.outcome.kind === 'stopped' && r.outcome.reason === 'agent_protocol') reached.push(`fd ${fd} (${r.outcome.detail})`);
    else if (r.outcome.kind !== 'untouched') problems.push(`fd ${fd}: ${describe(r.outcome)}`);
    const h = await hostHeld(api, neighbour);
    if (h) problems.push(`after fd ${fd}: ${h}`);
  }
  const attempts = fds.open.length + Object.keys(fds.denied).length;
  const denied =
    Object.entries(fds.denied)
      .map(([fd, e]) => `${fd} ${e}`)
      .join(', ') || 'none';
  // A '?' marks a count taken from the plan: the write's own report went down with the channel.
  const summary = `${frames} frames into fds {${perFd.join(', ')}} (refused: ${denied})`;
  const verdict: ChannelVerdict = problems.length > 0 ? 'escaped' : reached.length > 0 ? 'contained' : 'blocked';
  const detail =
    problems.length > 0
      ? `${summary}; ${problems.join('; ')}`
      : reached.length > 0
        ? `${summary}; stopped agent_protocol after ${reached.join(', ')}`
        : `${summary}; none reached the channel, the sandbox answers`;
  out.push(result(`J1.frames-${user}`, verdict, detail, attempts + frames, framesControl));
  return out;
}

/**
 * The positive control: `bytes` written into a fresh sandbox's channel from the host. Caught when
 * the server ends that sandbox `agent_protocol`; the exec that follows is the agent's own traffic
 * that a frame cut short waits for.
 */
async function injectFromHost(api: Api, runtime: string, dataDir: string, box: Attacked | undefined, bytes: Buffer, what: string): Promise<ChannelControl> {
  const created = (await api.create({ runtime, timeout: 600 })).id as string;
  box?.created.push(created);
  try {
    const written = injectIntoChannel(agentOutputPipe(shimPid(dataDir, runtime, created)), bytes);
    const o = await outcomeOf(api, created);
    const caught = o.kind === 'stopped' && o.reason === 'agent_protocol';
    return { runtime, frames: what, caught, detail: `${written} of ${bytes.length} bytes written; ${describe(o)}` };
  } finally {
    if (!box) await api.call('DELETE', `/v1/sandboxes/${created}`);
  }
}

/** Each crafted frame alone, and the random frames alone, from the host: every one must be caught by itself. */
export async function frameControls(api: Api, runtime: string, dataDir: string, seed: number): Promise<ChannelControl[]> {
  const out: ChannelControl[] = [];
  for (const f of CRAFTED_FRAMES) out.push(await injectFromHost(api, runtime, dataDir, undefined, f.bytes, `${f.name}: ${f.why}`));
  const random = Buffer.concat(randomFrames(seed).map((f) => f.bytes));
  out.push(await injectFromHost(api, runtime, dataDir, undefined, random, `random frames alone (seed ${seed})`));
  return out;
}
