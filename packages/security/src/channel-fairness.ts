/**
 * @module channel-fairness
 * The fairness claim of the agent channel: floods of frames from three sandboxes must not slow a
 * neighbour's exec beyond noise. Two floods, each measured against the neighbour's exec latency
 * just before it:
 * - frames for channels nobody opened, written into each flooder's channel from the host (what a
 *   sandbox whose agent was taken over sends): the server must close each flooder `agent_protocol`
 *   at its first such frame, so the flood costs it nothing after that;
 * - small valid frames: a process in each flooder writes one byte per write(2), which its agent
 *   relays as a stream of tiny STDOUT frames. They are legal, so nothing is closed; the server's
 *   per-sandbox frame budget and the flooders' CPU limits are what must keep the neighbour served.
 * Judged with a generous bound (and every neighbour exec must complete); the numbers go into the
 * scoreboard. Speed itself is measured by `npm run bench`, not here.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Api } from '@airlock/testkit/harness.js';
import { agentOutputPipe, shimPid } from './channel-injection.js';
import { outcomeOf } from './hostile-channel.js';
import { unknownChannelFlood } from './hostile-frames.js';
import type { FairnessPhase, LatencySample } from './scoreboard.js';

const FLOODERS = 3;
const SAMPLES = 12;
const FLOOD_SECONDS = 3;

/** The neighbour may be this much slower during a flood: a bound for a hang or a starved loop, not a benchmark. */
const BOUND = { factor: 5, slackMs: 100 };

/** Writes the flood into every pipe given, without blocking, for a while; prints the bytes each took. */
const FLOODER = String.raw`
import json, os, sys, time
paths, blob, seconds = sys.argv[1].split(','), bytes.fromhex(sys.argv[2]), float(sys.argv[3])
fds = [os.open(p, os.O_WRONLY | os.O_NONBLOCK) for p in paths]
took = [0] * len(fds)
end = time.time() + seconds
while time.time() < end:
    for i, fd in enumerate(fds):
        try:
            took[i] += os.write(fd, blob)
        except OSError:
            pass
    time.sleep(0.01)  # an attacker that keeps trying, cheaply: its own CPU is not what is measured
print(json.dumps(took))
`;

const SMALL_WRITES = ['python3', '-c', 'import os\nwhile True: os.write(1, b"x")'];

function sample(ms: number[]): LatencySample {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { n: s.length, medianMs: at(0.5), p90Ms: at(0.9), maxMs: at(1) };
}

/** CPU seconds the process has used (user + system), from /proc (clock ticks of 10 ms on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Sequential `true` execs on the neighbour; a failed one counts as missing. */
async function neighbourLatency(api: Api, id: string, serverPid?: number): Promise<{ ms: number[]; failed: number; serverCpuPercent?: number }> {
  const ms: number[] = [];
  const cpu0 = serverPid ? cpuSeconds(serverPid) : 0;
  const t0 = performance.now();
  let failed = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    const r = await api.call('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['true'], timeout: 60 }).catch(() => ({ status: 0, body: {} }));
    if (r.status === 200 && (r.body as { exitCode?: number }).exitCode === 0) ms.push(performance.now() - t0);
    else failed++;
  }
  if (!serverPid) return { ms, failed };
  return { ms, failed, serverCpuPercent: Math.round(((cpuSeconds(serverPid) - cpu0) / ((performance.now() - t0) / 1000)) * 100) };
}

function judged(
  name: string,
  before: { ms: number[]; serverCpuPercent?: number },
  during: { ms: number[]; failed: number; serverCpuPercent?: number },
  outcomes: string[],
  flooderOk: boolean,
): FairnessPhase {
  const b = sample(before.ms);
  const d = sample(during.ms.length > 0 ? during.ms : [Infinity]);
  const limit = b.medianMs * BOUND.factor + BOUND.slackMs;
  const fast = d.medianMs <= limit;
  const ok = flooderOk && during.failed === 0 && fast;
  const why = [
    ...(flooderOk ? [] : [`a flooder did not end as it must: ${outcomes.join('; ')}`]),
    ...(during.failed ? [`${during.failed} neighbour exec(s) failed`] : []),
    ...(fast ? [] : [`neighbour median ${d.medianMs} ms beyond ${Math.round(limit)} ms`]),
  ];
  return {
    name,
    flooders: FLOODERS,
    before: b,
    during: d,
    flooderOutcomes: outcomes,
    serverCpuPercent: { before: before.serverCpuPercent ?? -1, during: during.serverCpuPercent ?? -1 },
    ok,
    bound: `median during ≤ ${BOUND.factor} × median before + ${BOUND.slackMs} ms, every neighbour exec completes`,
    detail: ok ? `neighbour median ${b.medianMs} → ${d.medianMs} ms` : why.join('; '),
  };
}

/** `serverPid`: the server's process, whose CPU share during each flood is reported next to the latencies. */
export async function measureFairness(api: Api, runtime: string, dataDir: string, serverPid: number): Promise<FairnessPhase[]> {
  const neighbour = (await api.create({ runtime, timeout: 600 })).id as string;
  const made: string[] = [neighbour];
  const flooders = async () => {
    const ids: string[] = [];
    for (let i = 0; i < FLOODERS; i++) ids.push((await api.create({ runtime, cpu: 0.5, memoryMiB: 128, timeout: 600 })).id);
    made.push(...ids);
    return ids;
  };
  try {
    await neighbourLatency(api, neighbour); // warm up
    const phases: FairnessPhase[] = [];

    // 1. Frames for channels nobody opened, into each flooder's channel.
    const unknown = await flooders();
    const before1 = await neighbourLatency(api, neighbour, serverPid);
    const pipes = unknown.map((id) => agentOutputPipe(shimPid(dataDir, runtime, id)));
    const flood = spawn('python3', ['-c', FLOODER, pipes.join(','), unknownChannelFlood(64).toString('hex'), String(FLOOD_SECONDS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let took = '';
    flood.stdout.on('data', (d: Buffer) => (took += d.toString()));
    const floodDone = new Promise((r) => flood.once('exit', r));
    const during1 = await neighbourLatency(api, neighbour, serverPid);
    await floodDone;
    const outcomes1 = await Promise.all(unknown.map((id) => outcomeOf(api, id)));
    const bytes = (JSON.parse(took || '[]') as number[]).map((n) => `${Math.round(n / 1024)} KiB`);
    phases.push(
      judged(
        'frames for unknown channels (host-injected into 3 sandboxes’ channels)',
        before1,
        during1,
        outcomes1.map((o, i) => `${o.kind === 'stopped' ? `stopped ${o.reason}` : o.kind}; ${bytes[i] ?? '?'} taken by its pipe`),
        outcomes1.every((o) => o.kind === 'stopped' && o.reason === 'agent_protocol'),
      ),
    );

    // 2. Small valid frames through the agents, for FLOOD_SECONDS.
    const small = await flooders();
    const before2 = await neighbourLatency(api, neighbour, serverPid);
    const running = small.map((id) =>
      api.call('POST', `/v1/sandboxes/${id}/exec`, { cmd: SMALL_WRITES, timeout: FLOOD_SECONDS }).catch(() => ({ status: 0, body: {} })),
    );
    await new Promise((r) => setTimeout(r, 500)); // the floods are under way
    const during2 = await neighbourLatency(api, neighbour, serverPid);
    const ends = await Promise.all(running);
    const outcomes2 = await Promise.all(small.map((id) => outcomeOf(api, id)));
    phases.push(
      judged(
        'small valid frames (1-byte writes relayed by 3 agents)',
        before2,
        during2,
        ends.map((e, i) => {
          const b = e.body as { reason?: string; stdout?: string; stdoutTruncated?: boolean };
          return `exec ${b.reason ?? e.status}, ${Math.round((b.stdout?.length ?? 0) / 1024)} KiB kept${b.stdoutTruncated ? ' (truncated)' : ''}, then ${outcomes2[i]!.kind}`;
        }),
        // Legal frames: the flooders are served to their timeout and keep answering.
        ends.every((e) => (e.body as { reason?: string }).reason === 'timeout') && outcomes2.every((o) => o.kind === 'untouched'),
      ),
    );
    return phases;
  } finally {
    for (const id of made) await api.call('DELETE', `/v1/sandboxes/${id}`);
  }
}
