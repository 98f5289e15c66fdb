/**
 * @module scoreboard
 * The security suite's figures: per runtime, probes attempted / blocked / escaped / not applicable /
 * error, positive controls passed, resource attacks contained, hostile-channel attacks and their
 * controls; the per-layer variants and the fairness figures; and their comparison with the reviewed
 * expected verdicts (scoreboard-markdown.ts renders it). Pure: no I/O.
 */

/**
 * `error`: the probe itself crashed, so nothing is known; it fails the run and never counts as blocked.
 * `guest only`: a kernel-surface probe fired in a runtime whose boundary is a kernel of its own (a
 * microVM), against that kernel, and the host is shown untouched (confineToGuest): guest root by design.
 */
export type Verdict = 'blocked' | 'escaped' | 'guest only' | 'not applicable' | 'error';
/** Hostile-channel attacks (group J) add `contained`: they reached PID 1, and the host found everything in its documented state. */
export type ChannelVerdict = Verdict | 'contained';
export type ControlState = 'passed' | 'failed' | 'not applicable';

export interface ProbeResult {
  id: string;
  verdict: Verdict;
  detail: string;
  /** The same probe where it must fire (the host, or a weakened setup). 'not applicable' = the host itself lacks the target. */
  control: ControlState;
  controlDetail: string;
}

/** One hostile-channel attack (group J) as one user, judged by the host. */
export interface ChannelResult {
  id: string;
  verdict: ChannelVerdict;
  detail: string;
  control: ControlState;
  controlDetail: string;
  /** Attempts made: fds opened, frames written, signals sent, and so on. */
  attacks: number;
}

export interface AttackResult {
  id: string;
  title: string;
  /** Host, server and neighbour kept working during the attack, and nothing of the sandbox survived destroy. */
  contained: boolean;
  /** Positive control: the attack really hit its limit (or its effect was seen). */
  evidence: boolean;
  detail: string;
  measurements: Record<string, number | string | boolean>;
}

export interface RuntimeReport {
  runtime: string;
  /** For a runtime whose boundary is its own kernel: whether the sandbox's kernel is another kernel than the host's (its boot id differs). */
  ownKernel?: { distinct: boolean; detail: string };
  probes: ProbeResult[];
  attacks: AttackResult[];
  channel: ChannelResult[];
}

/** The probes in a runc with exactly one defence layer taken away (test only, weakened-runtime.ts). */
export interface LayerReport {
  variant: string;
  /** The layer taken away, in words. */
  removed: string;
  probes: ProbeResult[];
}

/** A hostile frame written into a sandbox's channel from the host: the server must end that sandbox `agent_protocol`. */
export interface ChannelControl {
  runtime: string;
  frames: string;
  caught: boolean;
  detail: string;
}

export interface LatencySample {
  n: number;
  medianMs: number;
  p90Ms: number;
  maxMs: number;
}

/** A neighbour's exec latency before and during a flood of frames from other sandboxes. */
export interface FairnessPhase {
  name: string;
  flooders: number;
  before: LatencySample;
  during: LatencySample;
  /** How each flooding sandbox ended up (stopReason, or the exec's reason). */
  flooderOutcomes: string[];
  /** The server process's CPU share while the neighbour's execs were measured (100 = one core; -1 unknown). */
  serverCpuPercent: { before: number; during: number };
  /** Everything held: each flooder ended as it must, every neighbour exec completed, during within the bound. */
  ok: boolean;
  bound: string;
  detail: string;
}

export interface Scoreboard {
  generatedAt: string;
  /** Host kernel settings that widen or narrow what a runc/bwrap sandbox can reach (reported, not judged). */
  host: { kernel: string; cpus: number; sysctls: Record<string, string> };
  runtimes: RuntimeReport[];
  /** One weakened runc per defence layer: a second positive control, and what each layer stops on its own. */
  layers: LayerReport[];
  channelControls: ChannelControl[];
  fairness: FairnessPhase[];
  /** Seed of this run's random frames (to reproduce them). */
  frameSeed: number;
  /** Expected runtimes that did not run because the operator narrowed the runtimes (AIRLOCK_SECURITY_RUNTIMES). */
  notRun: { runtime: string; reason: string }[];
  /** Checks of the host as a whole, before vs after the run (runtime binaries, sysctls). */
  hostChecks: { name: string; ok: boolean; detail: string }[];
}

export interface Summary {
  attempted: number;
  blocked: number;
  escaped: number;
  guestOnly: number;
  notApplicable: number;
  errors: number;
  controlsPassed: number;
  controlsRequired: number;
  attacks: number;
  attacksContained: number;
  attackEvidence: number;
  channelAttacks: number;
}

export function summarize(r: RuntimeReport): Summary {
  const count = (v: Verdict) => r.probes.filter((p) => p.verdict === v).length;
  const needControl = r.probes.filter((p) => p.control !== 'not applicable');
  return {
    attempted: r.probes.length,
    blocked: count('blocked'),
    escaped: count('escaped'),
    guestOnly: count('guest only'),
    notApplicable: count('not applicable'),
    errors: count('error'),
    controlsPassed: needControl.filter((p) => p.control === 'passed').length,
    controlsRequired: needControl.length,
    attacks: r.attacks.length,
    attacksContained: r.attacks.filter((a) => a.contained).length,
    attackEvidence: r.attacks.filter((a) => a.evidence).length,
    channelAttacks: r.channel.reduce((n, c) => n + c.attacks, 0),
  };
}

/**
 * The probes that meet the kernel the sandbox runs on (its sysctls, kernel memory and symbols, devices,
 * its own binaries, the syscalls of group C). In a microVM that kernel is the guest's. Not here: the
 * probes that reach for the host's files, fds, processes, uids, environment or shared image (B1,
 * B2.canary-write, B5, E, H), which are escapes whatever kernel the sandbox has.
 */
export function isKernelSurface(id: string): boolean {
  if (id === 'B2.canary-write') return false;
  return /^(B2|B3|B4|B6|C\d)\./.test(id);
}

/**
 * Turns the `escaped` kernel-surface probes of the runtimes whose boundary is their own kernel into
 * `guest only`, but only with proof that the host was untouched: the sandbox's kernel was seen to be
 * another kernel (a boot id of its own, read during the run) and every host check (the runtime
 * binaries, core_pattern, modprobe, the /sys attribute the probes write) is unchanged. Without that
 * proof they stay escapes and fail the run. Positive controls are untouched: each probe must still
 * fire on the host, so a `guest only` is a probe that worked, against the guest.
 */
export function confineToGuest(board: Scoreboard, ownKernel: ReadonlySet<string>): Scoreboard {
  const hostUntouched = board.hostChecks.length > 0 && board.hostChecks.every((c) => c.ok);
  return {
    ...board,
    runtimes: board.runtimes.map((r) => {
      if (!ownKernel.has(r.runtime) || !r.ownKernel?.distinct || !hostUntouched) return r;
      const probes = r.probes.map((p) =>
        p.verdict === 'escaped' && isKernelSurface(p.id)
          ? {
              ...p,
              verdict: 'guest only' as const,
              detail: `fired against the guest's own kernel (${r.ownKernel!.detail}; host checks unchanged): ${p.detail}`,
            }
          : p,
      );
      return { ...r, probes };
    }),
  };
}

/** Expected verdict per runtime (or layer variant) and probe/attack id: a verdict, or 'contained' for an attack. */
export type ExpectedVerdicts = Record<string, Record<string, string>>;

/** The layer variants are weakened runc: a run without runc runs none of them. */
export function baseRuntime(name: string): string {
  return name.startsWith('runc-') ? 'runc' : name;
}

export function observedVerdicts(board: Scoreboard): ExpectedVerdicts {
  const out: ExpectedVerdicts = {};
  for (const r of board.runtimes) {
    const v: Record<string, string> = {};
    for (const p of r.probes) v[p.id] = p.verdict;
    for (const a of r.attacks) v[a.id] = a.contained ? 'contained' : 'not contained';
    for (const c of r.channel) v[c.id] = c.verdict;
    out[r.runtime] = v;
  }
  for (const l of board.layers) out[l.variant] = Object.fromEntries(l.probes.map((p) => [p.id, p.verdict]));
  return out;
}

/**
 * Everything that makes the run fail: a verdict that differs from the reviewed file (either way),
 * an expected runtime or variant that did not run (unless the operator narrowed the runtimes), a
 * probe that crashed, an escape, a positive control that did not fire (the probe could not have
 * failed), an attack not contained or without evidence, a hostile frame the server did not catch, a
 * neighbour slowed beyond the bound by a flood, a host check that changed.
 */
export function problems(board: Scoreboard, expected: ExpectedVerdicts): string[] {
  const out: string[] = [];
  const observed = observedVerdicts(board);
  for (const [runtime, verdicts] of Object.entries(observed)) {
    const want = expected[runtime];
    if (!want) {
      out.push(`${runtime}: no expected verdicts reviewed for this runtime`);
      continue;
    }
    for (const [id, v] of Object.entries(verdicts)) {
      if (want[id] === undefined) out.push(`${runtime} ${id}: ${v}, but no expected verdict is reviewed`);
      else if (want[id] !== v) out.push(`${runtime} ${id}: expected ${want[id]}, got ${v}`);
    }
    for (const id of Object.keys(want)) if (verdicts[id] === undefined) out.push(`${runtime} ${id}: expected ${want[id]}, but it did not run`);
  }
  const skipped = new Set(board.notRun.map((n) => n.runtime));
  for (const runtime of Object.keys(expected)) {
    if (observed[runtime] || skipped.has(runtime) || skipped.has(baseRuntime(runtime))) continue;
    out.push(`${runtime}: expected, but it did not run (to leave it out on purpose, narrow the runtimes: AIRLOCK_SECURITY_RUNTIMES)`);
  }
  const all = [...board.runtimes.map((r) => ({ name: r.runtime, probes: r.probes })), ...board.layers.map((l) => ({ name: l.variant, probes: l.probes }))];
  for (const r of all)
    for (const p of r.probes) if (p.verdict === 'error') out.push(`${r.name} ${p.id}: ERROR, the probe crashed and its result is unknown (${p.detail})`);
  for (const r of board.runtimes) {
    for (const c of r.channel) if (c.verdict === 'error') out.push(`${r.runtime} ${c.id}: ERROR, the attack's result is unknown (${c.detail})`);
    for (const p of [...r.probes, ...r.channel]) {
      if (p.verdict === 'escaped') out.push(`${r.runtime} ${p.id}: ESCAPED (${p.detail})`);
      if (p.control === 'failed') out.push(`${r.runtime} ${p.id}: positive control did not fire, the probe is broken (${p.controlDetail})`);
    }
    for (const a of r.attacks) {
      if (!a.evidence) out.push(`${r.runtime} ${a.id}: no evidence the attack ran, the test is broken (${a.detail})`);
    }
  }
  for (const c of board.channelControls) if (!c.caught) out.push(`channel control ${c.runtime} ${c.frames}: NOT caught as a protocol violation (${c.detail})`);
  for (const f of board.fairness) if (!f.ok) out.push(`fairness ${f.name}: ${f.detail}`);
  for (const c of board.hostChecks) if (!c.ok) out.push(`host check ${c.name}: ${c.detail}`);
  return [...new Set(out)];
}
