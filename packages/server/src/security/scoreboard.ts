/**
 * @module scoreboard
 * The security suite's figures: per runtime, probes attempted / blocked / escaped / not applicable,
 * positive controls passed, and resource attacks contained; rendered as markdown and JSON, and
 * compared with the reviewed expected verdicts. Pure: no I/O.
 */
import { groupOf, PROBE_TITLES } from './probe-catalog.js';

export type Verdict = 'blocked' | 'escaped' | 'not applicable';

export interface ProbeResult {
  id: string;
  verdict: Verdict;
  detail: string;
  /** The same probe where it must fire (the host, or a weakened setup). 'not applicable' = the host itself lacks the target. */
  control: 'passed' | 'failed' | 'not applicable';
  controlDetail: string;
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
  probes: ProbeResult[];
  attacks: AttackResult[];
}

export interface Scoreboard {
  generatedAt: string;
  /** Host kernel settings that widen or narrow what a runc/bwrap sandbox can reach (reported, not judged). */
  host: { kernel: string; cpus: number; sysctls: Record<string, string> };
  runtimes: RuntimeReport[];
  /**
   * The probes in a deliberately weakened runc (no user namespace, no seccomp): a second positive
   * control inside a real sandbox. Its verdicts are reviewed like the others; its escapes are the point.
   */
  weakened?: RuntimeReport;
  /** Checks of the host as a whole, before vs after the run (runtime binaries, sysctls). */
  hostChecks: { name: string; ok: boolean; detail: string }[];
}

export interface Summary {
  attempted: number;
  blocked: number;
  escaped: number;
  notApplicable: number;
  controlsPassed: number;
  controlsRequired: number;
  attacks: number;
  attacksContained: number;
  attackEvidence: number;
}

export function summarize(r: RuntimeReport): Summary {
  const count = (v: Verdict) => r.probes.filter((p) => p.verdict === v).length;
  const needControl = r.probes.filter((p) => p.control !== 'not applicable');
  return {
    attempted: r.probes.length,
    blocked: count('blocked'),
    escaped: count('escaped'),
    notApplicable: count('not applicable'),
    controlsPassed: needControl.filter((p) => p.control === 'passed').length,
    controlsRequired: needControl.length,
    attacks: r.attacks.length,
    attacksContained: r.attacks.filter((a) => a.contained).length,
    attackEvidence: r.attacks.filter((a) => a.evidence).length,
  };
}

/** Expected verdict per runtime and probe/attack id: a probe's Verdict, or 'contained' for an attack. */
export type ExpectedVerdicts = Record<string, Record<string, string>>;

export function observedVerdicts(board: Scoreboard): ExpectedVerdicts {
  const out: ExpectedVerdicts = {};
  for (const r of [...board.runtimes, ...(board.weakened ? [board.weakened] : [])]) {
    const v: Record<string, string> = {};
    for (const p of r.probes) v[p.id] = p.verdict;
    for (const a of r.attacks) v[a.id] = a.contained ? 'contained' : 'not contained';
    out[r.runtime] = v;
  }
  return out;
}

/**
 * Everything that makes the run fail: a verdict that differs from the reviewed file (either way),
 * an escape, a positive control that did not fire (the probe could not have failed), an attack not
 * contained or without evidence, a host check that changed.
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
  for (const r of board.runtimes) {
    for (const p of r.probes) {
      if (p.verdict === 'escaped') out.push(`${r.runtime} ${p.id}: ESCAPED (${p.detail})`);
      if (p.control === 'failed') out.push(`${r.runtime} ${p.id}: positive control did not fire, the probe is broken (${p.controlDetail})`);
    }
    for (const a of r.attacks) {
      if (!a.evidence) out.push(`${r.runtime} ${a.id}: no evidence the attack ran, the test is broken (${a.detail})`);
    }
  }
  for (const c of board.hostChecks) if (!c.ok) out.push(`host check ${c.name}: ${c.detail}`);
  return [...new Set(out)];
}

export function renderMarkdown(board: Scoreboard): string {
  const lines: string[] = [];
  lines.push('# Airlock security scoreboard', '');
  lines.push(`Generated ${board.generatedAt} on kernel ${board.host.kernel}, ${board.host.cpus} CPUs, by \`npm run security\`.`, '');
  lines.push('| runtime | probes attempted | blocked | escaped | not applicable | controls passed | resource attacks contained |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const r of board.runtimes) {
    const s = summarize(r);
    lines.push(`| ${r.runtime} | ${s.attempted} | ${s.blocked} | ${s.escaped} | ${s.notApplicable} | ${s.controlsPassed}/${s.controlsRequired} | ${s.attacksContained}/${s.attacks} (evidence ${s.attackEvidence}/${s.attacks}) |`);
  }
  lines.push('', '## Probes', '');
  const runtimes = board.runtimes.map((r) => r.runtime);
  lines.push(`| probe | attempt | ${runtimes.join(' | ')} | control |`);
  lines.push(`|---|---|${runtimes.map(() => '---|').join('')}---|`);
  const ids = [...new Set(board.runtimes.flatMap((r) => r.probes.map((p) => p.id)))].sort();
  for (const id of ids) {
    const cells = board.runtimes.map((r) => r.probes.find((p) => p.id === id)?.verdict ?? '–');
    const control = board.runtimes.map((r) => r.probes.find((p) => p.id === id)?.control).find((c) => c !== undefined) ?? '–';
    lines.push(`| ${id} (${groupOf(id)}) | ${PROBE_TITLES[id] ?? ''} | ${cells.join(' | ')} | ${control} |`);
  }
  lines.push('', '## Resource attacks', '');
  lines.push(`| attack | ${runtimes.join(' | ')} |`);
  lines.push(`|---|${runtimes.map(() => '---|').join('')}`);
  const attackIds = [...new Set(board.runtimes.flatMap((r) => r.attacks.map((a) => a.id)))];
  for (const id of attackIds) {
    const title = board.runtimes.flatMap((r) => r.attacks).find((a) => a.id === id)?.title ?? '';
    const cells = board.runtimes.map((r) => {
      const a = r.attacks.find((x) => x.id === id);
      return a ? `${a.contained ? 'contained' : '**NOT contained**'}: ${a.detail}` : '–';
    });
    lines.push(`| ${id}: ${title} | ${cells.join(' | ')} |`);
  }
  if (board.weakened) {
    const fired = board.weakened.probes.filter((p) => p.verdict === 'escaped');
    lines.push('', '## Positive control in a weakened sandbox', '');
    lines.push(
      `The same probes in a test-only runc without its user namespace and seccomp filter (root inside is host root with the spec's capabilities): ` +
        `${fired.length} of ${board.weakened.probes.length} get through there, each blocked in the hardened runtimes above: ${fired.map((p) => p.id).join(', ')}.`,
    );
  }
  lines.push('', '## Host checks (before vs after the run)', '');
  lines.push(`Host kernel settings (reported, not judged): ${Object.entries(board.host.sysctls).map(([k, v]) => `${k}=${v}`).join(', ')}.`, '');
  for (const c of board.hostChecks) lines.push(`- ${c.ok ? 'ok' : '**CHANGED**'}: ${c.name}: ${c.detail}`);
  lines.push('', '## Details', '');
  for (const r of board.runtimes) {
    lines.push(`### ${r.runtime}`, '');
    for (const p of r.probes) lines.push(`- ${p.id}: ${p.verdict}: ${p.detail} (control: ${p.control}: ${p.controlDetail})`);
    for (const a of r.attacks) lines.push(`- ${a.id}: ${JSON.stringify(a.measurements)}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
