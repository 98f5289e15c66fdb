/**
 * @module security-suite
 * The adversarial suite: for each runtime, probes in fresh sandboxes (groups B, C, E, H), each
 * judged against its positive control on the host, then the resource attacks (group A). Produces
 * the Scoreboard; the caller writes it out and compares it with the reviewed verdicts.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Api } from '../test/harness.js';
import { processesMatching } from '../test/host-probe.js';
import { probeCreateEnv, probeHostUid } from './host-side-probes.js';
import { IN_SANDBOX_PROBES } from './probe-catalog.js';
import { runInSandbox, runOnHost, type ProbeArgs, type RawResult } from './probe-run.js';
import { ATTACKS, runAttack } from './resource-attacks.js';
import type { ProbeResult, RuntimeReport, Scoreboard } from './scoreboard.js';

export interface SuiteOptions {
  api: Api;
  runtimes: string[];
  dataDir: string;
  serverPid: number;
  /** Everything the server process wrote so far (its logs). */
  serverOutput: () => string;
  /** A value planted in the server's environment (H3). */
  envCanary: string;
  /** A directory of this run (under the test root) for canaries. */
  workDir: string;
  /** A server whose runc is deliberately weakened (weakened-runtime.ts): the probes run there too. */
  weakened?: { api: Api; dataDir: string };
  log?: (line: string) => void;
}

type BaseArgs = Omit<ProbeArgs, 'writeTarget' | 'marker' | 'foreignPids' | 'sharedDirs'>;

/** What every sandbox shares, as seen inside, and where a file written there would land on the host. */
const SHARED_IN_SANDBOX = ['/', '/.airlock', '/etc', '/usr/lib'];
function sharedOnHost(dataDir: string, name: string): string[] {
  const image = join(dataDir, 'images', 'default');
  return [join(image, 'rootfs', name), join(image, 'rootfs', '.airlock', name), join(image, 'etc', name), join('/usr/lib', name)];
}

/** Did an E4 write land on the host? Removes what it finds, so a poisoned file never outlives the run. */
function takeShared(paths: string[]): string[] {
  const found = paths.filter((p) => existsSync(p));
  for (const p of found) rmSync(p, { force: true });
  return found;
}

const sha256 = (path: string) => (existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent');
const renamedSleep = (name: string, seconds: number) => ['python3', '-c', `import os; os.execv('/bin/sleep', ['${name}', '${seconds}'])`];

/**
 * The strongest identity inside each runtime, which the probes run as: root, except in bwrap, which
 * maps a single unprivileged host uid to `user` (there is no root inside to use).
 */
const STRONGEST_USER: Record<string, string> = { runc: 'root', gvisor: 'root', bwrap: 'user', microvm: 'root' };

/** Host targets whose absence makes a probe moot on this host (nothing there to reach). */
const ABSENT_ON_HOST = /No such file|ENOSYS/;

export async function runSecuritySuite(o: SuiteOptions): Promise<Scoreboard> {
  const log = o.log ?? (() => {});
  const canaryDir = join(o.workDir, `canary-${randomBytes(4).toString('hex')}`);
  const writeDir = join(o.workDir, `write-${randomBytes(4).toString('hex')}`);
  const scratch = join(o.workDir, 'scratch');
  mkdirSync(canaryDir, { recursive: true, mode: 0o755 });
  // World-writable on purpose: only the sandbox's mount namespace may stand between it and this dir.
  mkdirSync(writeDir, { recursive: true });
  mkdirSync(scratch, { recursive: true });
  chmodSync(writeDir, 0o777);
  const canaryText = `airlock-host-canary-${randomBytes(8).toString('hex')}`;
  const canaryPath = join(canaryDir, 'canary');
  writeFileSync(canaryPath, canaryText, { mode: 0o644 });
  const base: BaseArgs = {
    probes: IN_SANDBOX_PROBES,
    canaryPath,
    canaryText,
    shadowSha256: sha256('/etc/shadow'),
    dataDir: o.dataDir,
    envCanary: o.envCanary,
    sharedName: `airlock-poison-${randomBytes(6).toString('hex')}`,
  };

  const hostBefore = hostFacts(o.dataDir);
  const controls = await hostControls(base, writeDir, scratch, o.envCanary, o.workDir);
  log(`host controls: ${[...controls.values()].filter((c) => c.fired).length}/${controls.size} fired`);

  const reports: RuntimeReport[] = [];
  for (const runtime of o.runtimes) {
    log(`${runtime}: probes`);
    const probes = await probeRuntime({ api: o.api, dataDir: o.dataDir, serverOutput: o.serverOutput }, runtime, base, writeDir, controls);
    log(`${runtime}: resource attacks`);
    const neighbour = await o.api.create({ runtime, memoryMiB: 128, timeout: 900 });
    const attacks = [];
    try {
      for (const attack of ATTACKS) {
        const r = await runAttack({ api: o.api, runtime, dataDir: o.dataDir, serverPid: o.serverPid, neighbourId: neighbour.id }, attack);
        log(`${runtime}: ${r.id} ${r.contained ? 'contained' : 'NOT contained'} (${r.detail})`);
        attacks.push(r);
      }
    } finally {
      await o.api.call('DELETE', `/v1/sandboxes/${neighbour.id}`);
    }
    reports.push({ runtime, probes, attacks });
  }
  let weakened: RuntimeReport | undefined;
  if (o.weakened) {
    log('runc-weakened (no user namespace, no seccomp): probes');
    const w = { api: o.weakened.api, dataDir: o.weakened.dataDir, serverOutput: undefined };
    weakened = { runtime: 'runc-weakened', probes: await probeRuntime(w, 'runc', { ...base, dataDir: w.dataDir }, writeDir, controls), attacks: [] };
  }
  const hostAfter = hostFacts(o.dataDir);
  rmSync(canaryDir, { recursive: true, force: true });
  rmSync(writeDir, { recursive: true, force: true });
  return {
    generatedAt: new Date().toISOString(),
    host: { kernel: release(), cpus: cpus().length, sysctls: hostSysctls() },
    runtimes: reports,
    ...(weakened ? { weakened } : {}),
    hostChecks: Object.keys(hostBefore).map((name) => ({
      name,
      ok: hostBefore[name] === hostAfter[name],
      detail: hostBefore[name] === hostAfter[name] ? `unchanged (${hostBefore[name]!.slice(0, 16)})` : `${hostBefore[name]} -> ${hostAfter[name]}`,
    })),
  };
}

/** Kernel settings that decide what the host kernel offers unprivileged code in runc and bwrap sandboxes. */
function hostSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['kernel/perf_event_paranoid', 'kernel/unprivileged_bpf_disabled', 'vm/unprivileged_userfaultfd', 'kernel/io_uring_disabled', 'kernel/kptr_restrict', 'user/max_user_namespaces']) {
    const path = `/proc/sys/${f}`;
    out[f.replace('/', '.')] = existsSync(path) ? readFileSync(path, 'utf8').trim() : 'absent';
  }
  return out;
}

/** What must not change on the host: runtime binaries (CVE-2019-5736 class) and sysctls a probe wrote. */
function hostFacts(dataDir: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const bin of ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/bwrap', join(dataDir, 'images', 'agent', 'airlock-agent')]) facts[`sha256 ${bin}`] = sha256(bin);
  for (const f of ['/proc/sys/kernel/core_pattern', '/sys/kernel/mm/transparent_hugepage/enabled']) {
    facts[f] = existsSync(f) ? readFileSync(f, 'utf8').trim() : 'absent';
  }
  return facts;
}

async function hostControls(base: BaseArgs, writeDir: string, scratch: string, envCanary: string, leakDir: string) {
  const marker = `airlockmarker${randomBytes(4).toString('hex')}`;
  const sleeper = spawn(renamedSleep(marker, 60)[0]!, renamedSleep(marker, 60).slice(1), { stdio: 'ignore' });
  try {
    await waitFor(() => processesMatching((c) => c.startsWith(marker)).length > 0);
    const writeTarget = join(writeDir, 'host-control');
    const raw = await runOnHost(
      { ...base, writeTarget, marker, foreignPids: [], scratch, sharedDirs: [scratch] },
      { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', AIRLOCK_SECURITY_CANARY: envCanary },
      leakDir,
    );
    const results = new Map<string, { fired: boolean; detail: string }>();
    for (const [id, r] of raw) results.set(id, 'na' in r ? { fired: false, detail: r.na } : { fired: r.fired, detail: r.detail });
    // The write probe is judged on the host: did the file appear?
    results.set('B2.canary-write', { fired: existsSync(writeTarget), detail: existsSync(writeTarget) ? 'file created in the host dir' : 'no file appeared' });
    const poisoned = takeShared([join(scratch, base.sharedName)]);
    results.set('E4.image-write', { fired: poisoned.length > 0, detail: poisoned.length > 0 ? 'file created in a shared host dir' : 'no file appeared' });
    return results;
  } finally {
    sleeper.kill('SIGKILL');
  }
}

/** The server a runtime is probed through; without its output, the host-side H1 probe is left out. */
interface Target {
  api: Api;
  dataDir: string;
  serverOutput: (() => string) | undefined;
}

async function probeRuntime(o: Target, runtime: string, base: BaseArgs, writeDir: string, controls: Map<string, { fired: boolean; detail: string }>): Promise<ProbeResult[]> {
  const box = await o.api.create({ runtime, timeout: 900 });
  const neighbour = await o.api.create({ runtime, timeout: 900 });
  const marker = `airlockmarker${randomBytes(4).toString('hex')}`;
  const markerRun = o.api.exec(neighbour.id, { cmd: renamedSleep(marker, 30), timeout: 40 }).catch(() => undefined);
  try {
    await delay(300);
    const foreignPids = processesMatching((c) => c.includes(neighbour.id) || c.startsWith(marker)).map((p) => p.pid);
    const writeTarget = join(writeDir, `${runtime}-${box.id}`);
    const user = STRONGEST_USER[runtime] ?? 'root';
    const raw = await runInSandbox(o.api, box.id, user, { ...base, writeTarget, marker, foreignPids, sharedDirs: SHARED_IN_SANDBOX });
    const poisoned = takeShared(sharedOnHost(o.dataDir, base.sharedName));
    const results: ProbeResult[] = [];
    for (const id of IN_SANDBOX_PROBES) {
      let r: RawResult | undefined = raw.get(id);
      if (id === 'B2.canary-write') r = { id, fired: existsSync(writeTarget), detail: existsSync(writeTarget) ? 'a file appeared in the host dir' : `no file appeared on the host (${r && 'detail' in r ? r.detail : ''})` };
      if (id === 'E4.image-write') r = { id, fired: poisoned.length > 0, detail: poisoned.length > 0 ? `landed on the host: ${poisoned.join(', ')}` : `no file appeared on the host (${r && 'detail' in r ? r.detail : ''})` };
      results.push(judge(id, r, controls.get(id)));
    }
    results.push(await probeHostUid(o.api, box.id, neighbour.id, user));
    if (o.serverOutput) results.push(await probeCreateEnv(o.api, runtime, join(o.dataDir, 'runtime'), o.serverOutput));
    return results;
  } finally {
    await o.api.call('DELETE', `/v1/sandboxes/${box.id}`);
    await o.api.call('DELETE', `/v1/sandboxes/${neighbour.id}`);
    await markerRun;
  }
}

/** A probe's verdict in the sandbox, read against its control on the host. */
export function judge(id: string, r: RawResult | undefined, control: { fired: boolean; detail: string } | undefined): ProbeResult {
  if (control && !control.fired && ABSENT_ON_HOST.test(control.detail)) {
    return { id, verdict: 'not applicable', detail: `the host itself has no such target (${control.detail})`, control: 'not applicable', controlDetail: control.detail };
  }
  const controlState = control?.fired ? 'passed' : 'failed';
  const controlDetail = control?.detail ?? 'no control result';
  if (r === undefined) return { id, verdict: 'escaped', detail: 'the probe gave no result (counted against us)', control: controlState, controlDetail };
  if ('na' in r) return { id, verdict: 'not applicable', detail: r.na, control: controlState, controlDetail };
  return { id, verdict: r.fired ? 'escaped' : 'blocked', detail: r.detail, control: controlState, controlDetail };
}

async function waitFor(pred: () => boolean, tries = 50): Promise<void> {
  for (let i = 0; i < tries && !pred(); i++) await delay(50);
}
