/**
 * @module resource-attacks
 * Group A of the security catalog: each attack runs in a fresh sandbox of the runtime under test
 * while the suite checks, during the attack, that the server's API answers and that a neighbouring
 * sandbox's exec completes; after destroy, that nothing of the attacker is left on the host. Each
 * attack also needs evidence that it really hit its limit (its positive control): a fork that failed
 * at pids.max, an OOM kill or ENOSPC, CPU throttling, output cut at the cap, a daemon seen alive.
 */
import { statfsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Api } from '@airlock/testkit/harness.js';
import { cgroupCounter, cgroupOomKills, isClean, processesMatching, remainsOf, rssBytes } from '@airlock/testkit/host-probe.js';
import type { AttackResult } from './scoreboard.js';

export interface AttackContext {
  api: Api;
  runtime: string;
  dataDir: string;
  serverPid: number;
  neighbourId: string;
}

interface ExecOutcome {
  stdout: string;
  stderr: string;
  reason: string;
  stdoutTruncated?: boolean;
  error?: string;
}

interface Attack {
  id: string;
  title: string;
  create: { memoryMiB: number; cpu: number; diskMiB?: number };
  /** The attack; its exec timeout bounds it. */
  cmd: (marker: string) => string | string[];
  timeout: number;
  /** Evidence that the attack hit its limit, read before the sandbox is destroyed. */
  evidence: (sandboxId: string, out: ExecOutcome, marker: string, api: Api) => Promise<{ fired: boolean; detail: string }>;
}

const MiB = 1024 * 1024;
/** ENOSPC (a tmpfs or the volume) or EDQUOT (the sandbox's disk quota). */
const nospc = (o: ExecOutcome) => /No space left|ENOSPC|Errno 28|Disk quota exceeded|EDQUOT|Errno 122/.test(o.stdout + o.stderr);
/** The guest's own process limit refused a fork (gVisor: RLIMIT_NPROC, which its kernel enforces before the host's pids.max). */
const forkRefused = (o: ExecOutcome) => /Cannot fork|Resource temporarily unavailable|can't start new thread|EAGAIN/.test(o.stdout + o.stderr);
const oomKills = (id: string) => cgroupOomKills(id) ?? 0;
const oomKilled = (id: string, o: ExecOutcome) => o.reason === 'oom' || oomKills(id) > 0;
/** What stopped a memory or disk attack: the exec's own end, OOM kills in its cgroup, ENOSPC. */
const stoppedBy = (id: string, o: ExecOutcome) => `exec ${o.reason}, ${oomKills(id)} OOM kill(s) in its cgroup${nospc(o) ? ', ENOSPC' : ''}`;

const py = (lines: string[]) => ['python3', '-c', lines.join('\n')];

export const ATTACKS: Attack[] = [
  {
    id: 'A1.fork-bomb',
    title: 'fork bomb (shell, every child forks again)',
    // A full CPU and 25 s: on gVisor, where a fork costs milliseconds under ptrace, half a CPU on a
    // loaded machine did not always reach the guest's limit (512 processes) within 15 s.
    create: { memoryMiB: 256, cpu: 1 },
    cmd: () => 'bomb() { bomb | bomb & }; bomb; sleep 25',
    timeout: 25,
    evidence: async (id, o) => {
      const hits = cgroupCounter(id, 'pids', 'pids.events', 'max') ?? 0;
      return {
        // gVisor: the bomb's processes may meet the guest's memory limit before any process limit (exec oom).
        fired: hits > 0 || o.reason === 'sandbox_stopped' || forkRefused(o) || oomKilled(id, o),
        detail: `pids.max hit ${hits} times, ${forkRefused(o) ? 'forks refused inside, ' : ''}exec ${o.reason}, ${o.stderr.split('\n').length - 1} stderr lines`,
      };
    },
  },
  {
    id: 'A1.thread-bomb',
    title: 'thread bomb (threads until refused)',
    // Small memory and a full CPU, so gVisor (whose sentry pays for each thread in memory) hits its
    // limit soon even on a loaded machine; runc and bwrap stop at pids.max within a second.
    create: { memoryMiB: 128, cpu: 1 },
    cmd: () =>
      py([
        'import threading, time',
        'n = 0',
        'try:',
        '    while True:',
        '        threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); n += 1',
        'except RuntimeError as e:',
        '    print(f"refused after {n} threads: {e}", flush=True)',
      ]),
    timeout: 30,
    // runc and bwrap: pids.max refuses the clone; gVisor: the guest's process limit, or the sentry's memory for the threads.
    evidence: async (id, o) => {
      const hits = cgroupCounter(id, 'pids', 'pids.events', 'max') ?? 0;
      return {
        fired: hits > 0 || oomKilled(id, o) || forkRefused(o),
        detail: `${o.stdout.trim().slice(0, 60) || `exec ${o.reason}`}, pids.max hit ${hits} times`,
      };
    },
  },
  {
    id: 'A2.memory-heap',
    title: 'memory bomb on the heap',
    create: { memoryMiB: 128, cpu: 1 },
    cmd: () => py(['x = []', 'while True: x.append(bytearray(16 << 20))']),
    timeout: 30,
    evidence: async (id, o) => ({ fired: oomKilled(id, o), detail: stoppedBy(id, o) }),
  },
  {
    id: 'A2.memory-tmpfs',
    title: 'memory bomb through /dev/shm (tmpfs)',
    create: { memoryMiB: 128, cpu: 1 },
    // dd's exit status is printed: a microVM's guest OOM killer may stop dd while the exec itself (the shell) exits normally.
    cmd: () => 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=4096; echo "dd exit $?"',
    timeout: 30,
    evidence: async (id, o) => {
      const killed = /dd exit 137/.test(o.stdout);
      const status = /dd exit \d+/.exec(o.stdout)?.[0];
      return {
        fired: oomKilled(id, o) || nospc(o) || killed,
        detail: `${stoppedBy(id, o)}${status ? `, ${status}` : ''}${killed ? ' (SIGKILL: OOM killer)' : ''}`,
      };
    },
  },
  {
    id: 'A3.disk-fill',
    title: 'disk fill (dd into every writable directory)',
    create: { memoryMiB: 128, cpu: 1, diskMiB: 256 },
    // dd's own error line is the evidence (ENOSPC at the limit), so it is the line kept. Where the
    // writable places are memory (a microVM's guest tmpfs), the guest's OOM killer stops dd first:
    // dd's own exit status, 137 (SIGKILL), is then the evidence, since the loop goes on and the exec
    // itself exits normally.
    cmd: () =>
      "for d in /tmp /var/tmp /home/user /root /run; do { dd if=/dev/zero of=$d/fill bs=1M count=4096 2>&1; echo \"dd exit $?\"; } | grep -m1 -i -e 'space' -e 'quota' -e 'denied' -e 'read-only' -e 'dd exit 137'; rm -f $d/fill; done",
    timeout: 30,
    evidence: async (id, o) => {
      const killed = /dd exit 137/.test(o.stdout);
      return { fired: oomKilled(id, o) || nospc(o) || killed, detail: `${stoppedBy(id, o)}${killed ? ', dd exit 137 (SIGKILL: OOM killer)' : ''}` };
    },
  },
  {
    id: 'A4.inode-exhaustion',
    title: 'inode exhaustion (empty files until refused)',
    // On the sandbox's disk, inodes cost metadata, which its quota counts (46k empty files fill 16
    // MiB: checked by hand on runc, 8 s). The timed attack goes for the memory-backed /dev/shm, whose
    // 64 MiB give it 16,384 inodes: few enough that gVisor (about 1 ms per create under ptrace)
    // reaches the limit well within the timeout even on a loaded machine.
    create: { memoryMiB: 64, cpu: 1 },
    cmd: () =>
      py([
        'import os',
        'n = 0',
        'os.makedirs("/dev/shm/i", exist_ok=True)',
        'try:',
        '    while True:',
        '        open(f"/dev/shm/i/{n}", "w").close(); n += 1',
        'except OSError as e:',
        '    print(f"refused after {n} files: {e}", flush=True)',
      ]),
    timeout: 90,
    evidence: async (id, o) => ({ fired: oomKilled(id, o) || nospc(o), detail: o.stdout.trim().slice(0, 80) || stoppedBy(id, o) }),
  },
  {
    id: 'A5.output-flood',
    title: 'output flood (binary, no newlines, invalid UTF-8)',
    create: { memoryMiB: 128, cpu: 1 },
    cmd: () => 'cat /dev/urandom',
    timeout: 4,
    evidence: async (_id, o) => ({ fired: o.stdoutTruncated === true, detail: `stdout ${o.stdout.length} chars kept, truncated ${o.stdoutTruncated}` }),
  },
  {
    id: 'A6.cpu-hog',
    title: 'CPU hog (4 busy processes, cpu 0.5)',
    create: { memoryMiB: 128, cpu: 0.5 },
    cmd: () => py(['import os', 'for _ in range(3):', '    if os.fork() == 0: break', 'while True: pass']),
    timeout: 4,
    evidence: async (id) => {
      const throttled = cgroupCounter(id, 'cpu', 'cpu.stat', 'nr_throttled') ?? 0;
      return { fired: throttled > 0, detail: `throttled in ${throttled} periods` };
    },
  },
  {
    id: 'A7.daemon',
    title: 'daemonised children (setsid, nohup, ignoring TERM/HUP) left running',
    create: { memoryMiB: 128, cpu: 1 },
    cmd: (marker) =>
      `trap '' TERM HUP; setsid nohup python3 -c "import os,signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); os.fork() and os._exit(0); os.execv('/bin/sleep', ['${marker}', '1000'])" </dev/null >/dev/null 2>&1 & sleep 1; echo started`,
    timeout: 10,
    evidence: async (id, _o, marker, api) => {
      const count = await api.exec(id, {
        cmd: ['sh', '-c', `for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^${marker} '`],
      });
      const n = Number(count.stdout.trim());
      return { fired: n > 0, detail: `${n} daemon(s) alive inside before destroy` };
    },
  },
];

/**
 * Stretches every attack's time (AIRLOCK_ATTACK_TIME_SCALE, default 1): the stock-host guest runs
 * under TCG, 5–20× slower, where gVisor's forks under ptrace would not reach a limit in the time
 * this host needs. Bounded, so a typo cannot turn an attack into an hour.
 */
const TIME_SCALE = Math.min(10, Math.max(1, Number(process.env.AIRLOCK_ATTACK_TIME_SCALE) || 1));

/** How long a background release (asynchronous destroy) may take before leftovers count as a leak. */
const RELEASE_GRACE_MS = 10_000;

/** Runs one attack in a fresh sandbox and reports whether it was contained. */
export async function runAttack(ctx: AttackContext, attack: Attack): Promise<AttackResult> {
  const { api } = ctx;
  const marker = `airlockdaemon${Math.random().toString(36).slice(2, 10)}`;
  const box = await api.create({ runtime: ctx.runtime, ...attack.create, timeout: 600 });
  const rssBefore = rssBytes(ctx.serverPid) ?? 0;
  const diskBefore = freeBytes('/');
  const running: Promise<ExecOutcome> = api
    .exec(box.id, { cmd: attack.cmd(marker), timeout: Math.round(attack.timeout * TIME_SCALE) })
    .catch((e: unknown) => ({ stdout: '', stderr: '', reason: 'error', error: e instanceof Error ? e.message : String(e) }));
  // Let the attack reach its limit; one that is over sooner is measured right after.
  await Promise.race([delay(1500), running]);
  const t0 = Date.now();
  const health = await api.call('GET', '/v1/health').catch(() => ({ status: 0 }));
  const apiMs = Date.now() - t0;
  const t1 = Date.now();
  const neighbour = await api.exec(ctx.neighbourId, { cmd: ['echo', 'ok'], timeout: 60 }).catch((e: unknown) => ({ stdout: String(e) }));
  const neighbourMs = Date.now() - t1;
  const outcome = await running;
  const evidence = await attack.evidence(box.id, outcome, marker, api).catch((e: unknown) => ({ fired: false, detail: `evidence check failed: ${String(e)}` }));
  const rssGrowth = (rssBytes(ctx.serverPid) ?? 0) - rssBefore;
  const del = await api.call('DELETE', `/v1/sandboxes/${box.id}`);
  // gVisor's destroy answers once the sandbox is stopped and releases the rest in the background:
  // give that release a bounded time, then judge what is left.
  let remains = remainsOf(box.id, ctx.dataDir);
  let daemons = processesMatching((cmd) => cmd.startsWith(marker)).length;
  for (let waited = 0; (!isClean(remains) || daemons > 0) && waited < RELEASE_GRACE_MS; waited += 100) {
    await delay(100);
    remains = remainsOf(box.id, ctx.dataDir);
    daemons = processesMatching((cmd) => cmd.startsWith(marker)).length;
  }
  const diskDrop = diskBefore - freeBytes('/');
  const checks = {
    apiAnswered: health.status === 200,
    neighbourExecCompleted: neighbour.stdout === 'ok\n',
    destroyed: del.status === 200,
    nothingLeft: isClean(remains) && daemons === 0,
    // Output is streamed with credit and capped; the server must not buffer it.
    serverMemoryHeld: rssGrowth < 128 * MiB,
  };
  const failed = Object.entries(checks)
    .filter(([, ok]) => !ok)
    .map(([k]) => k);
  return {
    id: attack.id,
    title: attack.title,
    contained: failed.length === 0,
    evidence: evidence.fired,
    detail: `${evidence.detail}; API ${apiMs} ms, neighbour exec ${neighbourMs} ms${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`,
    measurements: {
      ...checks,
      execReason: outcome.reason,
      ...(outcome.error ? { execError: outcome.error.slice(0, 300) } : {}),
      apiMs,
      neighbourMs,
      serverRssGrowthMiB: Math.round(rssGrowth / MiB),
      // Reported, not judged: this machine is shared and its free space moves on its own. That the
      // writes went to the sandbox's bounded tmpfs is shown by the evidence (ENOSPC or OOM at its limit).
      hostDiskDropMiB: Math.round(diskDrop / MiB),
      leftover: JSON.stringify(remains).slice(0, 300),
    },
  };
}

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}
