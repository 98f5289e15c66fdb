/**
 * @module host-controls
 * The host side of the security suite: the positive controls that run on the host as root (every
 * in-sandbox probe, with no isolation at all, must fire here where its target exists; the
 * hostile-channel attacks against a stand-in for PID 1), and the host facts compared before and
 * after the run.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { processesMatching, renamedSleep } from '@airlock/testkit/host-probe.js';
import { CHANNEL_PROBES_PY, type HostControls } from './hostile-channel.js';
import { runOnHost, type ProbeArgs } from './probe-run.js';

export type BaseArgs = Omit<ProbeArgs, 'writeTarget' | 'marker' | 'foreignPids' | 'sharedDirs'>;

export const sha256 = (path: string) => (existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent');

/** Did an E4 write land on the host? Removes what it finds, so a poisoned file never outlives the run. */
export function takeShared(paths: string[]): string[] {
  const found = paths.filter((p) => existsSync(p));
  for (const p of found) rmSync(p, { force: true });
  return found;
}

/** Kernel settings that decide what the host kernel offers unprivileged code in runc and bwrap sandboxes. */
export function hostSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of [
    'kernel/perf_event_paranoid',
    'kernel/unprivileged_bpf_disabled',
    'vm/unprivileged_userfaultfd',
    'kernel/io_uring_disabled',
    'kernel/kptr_restrict',
    'kernel/yama/ptrace_scope',
    'user/max_user_namespaces',
  ]) {
    const path = `/proc/sys/${f}`;
    out[f.replaceAll('/', '.')] = existsSync(path) ? readFileSync(path, 'utf8').trim() : 'absent';
  }
  return out;
}

/** What must not change on the host: runtime binaries (CVE-2019-5736 class) and sysctls a probe wrote. */
export function hostFacts(dataDir: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const bin of ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/bwrap', join(dataDir, 'images', 'agent', 'airlock-agent')])
    facts[`sha256 ${bin}`] = sha256(bin);
  for (const f of ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/modprobe', '/sys/kernel/mm/transparent_hugepage/enabled']) {
    facts[f] = existsSync(f) ? readFileSync(f, 'utf8').trim() : 'absent';
  }
  return facts;
}

export type Control = { fired: boolean; detail: string; error?: string };

/** Every in-sandbox probe on the host as root, with a leaked fd and the canary in its environment. */
export async function probeControls(base: BaseArgs, writeDir: string, scratch: string, envCanary: string, leakDir: string): Promise<Map<string, Control>> {
  const marker = `airlockmarker${randomBytes(4).toString('hex')}`;
  const sleeper = spawn(renamedSleep(marker, 60)[0]!, renamedSleep(marker, 60).slice(1), { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50 && processesMatching((c) => c.startsWith(marker)).length === 0; i++) await delay(50);
    const writeTarget = join(writeDir, 'host-control');
    const raw = await runOnHost(
      { ...base, writeTarget, marker, foreignPids: [], scratch, sharedDirs: [scratch] },
      { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', AIRLOCK_SECURITY_CANARY: envCanary },
      leakDir,
    );
    const results = new Map<string, Control>();
    for (const [id, r] of raw) {
      results.set(
        id,
        'na' in r
          ? { fired: false, detail: r.na }
          : 'error' in r
            ? { fired: false, detail: `control crashed: ${r.error}`, error: r.error }
            : { fired: r.fired, detail: r.detail },
      );
    }
    // The write probe is judged on the host: did the file appear?
    results.set('B2.canary-write', { fired: existsSync(writeTarget), detail: existsSync(writeTarget) ? 'file created in the host dir' : 'no file appeared' });
    const poisoned = takeShared([join(scratch, base.sharedName)]);
    results.set('E4.image-write', { fired: poisoned.length > 0, detail: poisoned.length > 0 ? 'file created in a shared host dir' : 'no file appeared' });
    return results;
  } finally {
    sleeper.kill('SIGKILL');
  }
}

/**
 * The controls of the non-frame channel attacks (J2–J5): channel-probes.py as root against a
 * stand-in for PID 1 that, like the agent, ignores TERM, INT, HUP and PIPE. Each must get through.
 */
export async function channelControls(): Promise<HostControls> {
  const standIn = spawn(
    'python3',
    ['-c', 'import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE): signal.signal(s, signal.SIG_IGN)\ntime.sleep(60)'],
    { stdio: 'ignore' },
  );
  const out: HostControls = new Map();
  try {
    await delay(200); // past the signal setup
    for (const mode of ['recon', 'signals']) {
      const stdout = await new Promise<string>((resolve, reject) => {
        const p = spawn('python3', [CHANNEL_PROBES_PY, JSON.stringify({ mode, target: standIn.pid })], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        p.stdout.on('data', (d: Buffer) => (text += d.toString()));
        p.on('error', reject);
        p.on('close', () => resolve(text));
      });
      for (const line of stdout.split('\n').filter((l) => l.startsWith('{'))) {
        const r = JSON.parse(line) as { id: string; fired?: boolean; detail?: string; error?: string };
        if (r.id.startsWith('J') && r.fired !== undefined) out.set(r.id, { fired: r.fired, detail: r.detail ?? '' });
        else if (r.error) out.set(r.id, { fired: false, detail: `control crashed: ${r.error}` });
      }
    }
    return out;
  } finally {
    standIn.kill('SIGKILL');
  }
}
