/**
 * @module scoreboard-markdown
 * The scoreboard as the markdown committed in security/results/latest.md. Pure: no I/O.
 */
import { CHANNEL_TITLES, groupOf, titleOf } from './probe-catalog.js';
import { summarize, type Scoreboard } from './scoreboard.js';

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderMarkdown(board: Scoreboard): string {
  const lines: string[] = [];
  const runtimes = board.runtimes.map((r) => r.runtime);
  lines.push('# Airlock security scoreboard', '');
  lines.push(`Generated ${board.generatedAt} on kernel ${board.host.kernel}, ${board.host.cpus} CPUs, by \`npm run security\`.`, '');
  if (board.notRun.length > 0) lines.push(`**Not run** (narrowed by the operator): ${board.notRun.map((n) => `${n.runtime} (${n.reason})`).join(', ')}.`, '');
  lines.push(
    '| runtime | probes attempted | blocked | escaped | guest only | not applicable | error | controls passed | channel attacks | resource attacks contained |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of board.runtimes) {
    const s = summarize(r);
    lines.push(
      `| ${r.runtime} | ${s.attempted} | ${s.blocked} | ${s.escaped} | ${s.guestOnly} | ${s.notApplicable} | ${s.errors} | ${s.controlsPassed}/${s.controlsRequired} | ${s.channelAttacks} | ${s.attacksContained}/${s.attacks} (evidence ${s.attackEvidence}/${s.attacks}) |`,
    );
  }

  lines.push('', '## Probes', '');
  lines.push(`| probe | attempt | ${runtimes.join(' | ')} | control |`);
  lines.push(`|---|---|${runtimes.map(() => '---|').join('')}---|`);
  const ids = [...new Set(board.runtimes.flatMap((r) => r.probes.map((p) => p.id)))].sort();
  for (const id of ids) {
    const cells = board.runtimes.map((r) => r.probes.find((p) => p.id === id)?.verdict ?? '–');
    const control = board.runtimes.map((r) => r.probes.find((p) => p.id === id)?.control).find((c) => c !== undefined) ?? '–';
    lines.push(`| ${id} (${groupOf(id)}) | ${titleOf(id)} | ${cells.join(' | ')} | ${control} |`);
  }

  renderLayers(board, lines);
  renderChannel(board, lines);

  lines.push('', '## Resource attacks', '');
  lines.push(`| attack | ${runtimes.join(' | ')} |`);
  lines.push(`|---|${runtimes.map(() => '---|').join('')}`);
  const attackIds = [...new Set(board.runtimes.flatMap((r) => r.attacks.map((a) => a.id)))];
  for (const id of attackIds) {
    const title = board.runtimes.flatMap((r) => r.attacks).find((a) => a.id === id)?.title ?? '';
    const cells = board.runtimes.map((r) => {
      const a = r.attacks.find((x) => x.id === id);
      return a ? `${a.contained ? 'contained' : '**NOT contained**'}: ${cell(a.detail)}` : '–';
    });
    lines.push(`| ${id}: ${title} | ${cells.join(' | ')} |`);
  }

  lines.push('', '## Host checks (before vs after the run)', '');
  lines.push(
    `Host kernel settings (reported, not judged): ${Object.entries(board.host.sysctls)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    '',
  );
  for (const c of board.hostChecks) lines.push(`- ${c.ok ? 'ok' : '**CHANGED**'}: ${c.name}: ${c.detail}`);
  lines.push('', '## Details', '');
  for (const r of board.runtimes) {
    lines.push(`### ${r.runtime}`, '');
    for (const p of [...r.probes, ...r.channel]) lines.push(`- ${p.id}: ${p.verdict}: ${p.detail} (control: ${p.control}: ${p.controlDetail})`);
    for (const a of r.attacks) lines.push(`- ${a.id}: ${JSON.stringify(a.measurements)}`);
    lines.push('');
  }
  for (const l of board.layers) {
    lines.push(`### ${l.variant}`, '');
    for (const p of l.probes) lines.push(`- ${p.id}: ${p.verdict}: ${p.detail}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/** One column per weakened runc: a probe that gets through only there is stopped by that layer alone. */
function renderLayers(board: Scoreboard, lines: string[]): void {
  if (board.layers.length === 0) return;
  const hardened = board.runtimes.find((r) => r.runtime === 'runc');
  lines.push('', '## Defence layers: runc with one layer taken away', '');
  lines.push('Each variant is a real runc sandbox with exactly one layer removed (test only). A probe that gets through in a variant');
  lines.push('is stopped by that layer alone: the layers left in place do not stop it. A probe blocked in every variant is stopped by');
  lines.push('more than one layer (or by the mount and pid namespaces, which no variant removes).', '');
  for (const l of board.layers) {
    const through = l.probes.filter((p) => p.verdict === 'escaped').map((p) => p.id);
    lines.push(`- **${l.variant}**, without ${l.removed}: ${through.length} of ${l.probes.length} get through: ${through.join(', ') || 'none'}.`);
  }
  const ids = [...new Set(board.layers.flatMap((l) => l.probes.filter((p) => p.verdict === 'escaped').map((p) => p.id)))].sort();
  if (ids.length === 0) return;
  lines.push('', `| probe | ${hardened ? 'runc | ' : ''}${board.layers.map((l) => l.variant).join(' | ')} |`);
  lines.push(`|---|${hardened ? '---|' : ''}${board.layers.map(() => '---|').join('')}`);
  for (const id of ids) {
    const cells = board.layers.map((l) => {
      const v = l.probes.find((p) => p.id === id)?.verdict ?? '–';
      return v === 'escaped' ? '**escaped**' : v;
    });
    lines.push(`| ${id} | ${hardened ? `${hardened.probes.find((p) => p.id === id)?.verdict ?? '–'} | ` : ''}${cells.join(' | ')} |`);
  }
}

function renderChannel(board: Scoreboard, lines: string[]): void {
  const runtimes = board.runtimes.map((r) => r.runtime);
  lines.push('', '## Hostile agent channel (group J)', '');
  lines.push('Code inside each sandbox attacks its own agent (PID 1) as root and as the default user; the host judges: the server answers,');
  lines.push('a neighbour sandbox execs, and the attacked sandbox either answers (`blocked`: nothing reached PID 1 or the channel) or');
  lines.push('reached it and ended in its documented state (`contained`: stopped `agent_protocol` after frames, `exited` after a');
  lines.push('signal that killed its own PID 1, untouched after a harmless write-back). Cells give the verdict and the number of attempts.', '');
  lines.push(`| attack | as | ${runtimes.join(' | ')} |`);
  lines.push(`|---|---|${runtimes.map(() => '---|').join('')}`);
  for (const base of Object.keys(CHANNEL_TITLES)) {
    for (const user of ['root', 'user']) {
      const id = `${base}-${user}`;
      const cells = board.runtimes.map((r) => {
        const c = r.channel.find((x) => x.id === id);
        return c ? `${c.verdict} (${c.attacks})` : '–';
      });
      lines.push(`| ${base}: ${CHANNEL_TITLES[base]} | ${user} | ${cells.join(' | ')} |`);
    }
  }
  const total = board.runtimes.reduce((n, r) => n + r.channel.reduce((m, c) => m + c.attacks, 0), 0);
  lines.push(
    '',
    `${total} attempts in all (fds opened or refused, frames written, memory writes, ptrace calls, signals; the seed of the random frames was ${board.frameSeed}).`,
    '',
  );
  lines.push("Positive controls: the same frames written into a fresh sandbox's channel from the host (into the pipe from the agent to its shim):", '');
  lines.push('| runtime | frames | caught as a protocol violation | detail |');
  lines.push('|---|---|---|---|');
  for (const c of board.channelControls) lines.push(`| ${c.runtime} | ${cell(c.frames)} | ${c.caught ? 'yes' : '**NO**'} | ${cell(c.detail)} |`);
  if (board.fairness.length > 0) {
    lines.push('', "### Fairness: a neighbour's exec while three sandboxes flood the channel", '');
    lines.push('| flood | neighbour exec before (median / p90 ms) | during (median / p90 / max ms) | server CPU before → during | flooders | held |');
    lines.push('|---|---|---|---|---|---|');
    for (const f of board.fairness) {
      lines.push(
        `| ${f.name} | ${f.before.medianMs} / ${f.before.p90Ms} (n=${f.before.n}) | ${f.during.medianMs} / ${f.during.p90Ms} / ${f.during.maxMs} (n=${f.during.n}) | ${f.serverCpuPercent.before}% → ${f.serverCpuPercent.during}% | ${cell(f.flooderOutcomes.join('; '))} | ${f.ok ? 'yes' : `**NO**: ${cell(f.detail)}`} |`,
      );
    }
    lines.push('', `Bound: ${board.fairness[0]!.bound} (a generous bound against a hang or a starved event loop; \`npm run bench\` measures speed).`);
  }
}
