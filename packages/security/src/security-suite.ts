/**
 * @module security-suite
 * The adversarial suite: for each runtime, probes in fresh sandboxes (groups B, C, E, H), each
 * judged against its positive control on the host, the hostile-channel attacks (group J), then the
 * resource attacks (group A); the probes again in runc with one defence layer taken away at a
 * time; every crafted frame injected into a channel from the host; and the fairness of the channel
 * under floods. Produces the Scoreboard; the caller writes it out and compares it with the
 * reviewed verdicts.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Api } from '@airlock/testkit/harness.js';
import { processesMatching, renamedSleep } from '@airlock/testkit/host-probe.js';
import { measureFairness } from './channel-fairness.js';
import { channelControls, hostFacts, hostSysctls, probeControls, sha256, takeShared, type BaseArgs, type Control } from './host-controls.js';
import { probeCreateEnv, probeHostUid } from './host-side-probes.js';
import { frameControls, probeChannel } from './hostile-channel.js';
import { IN_SANDBOX_PROBES } from './probe-catalog.js';
import { runInSandbox, type RawResult } from './probe-run.js';
import { ATTACKS, runAttack } from './resource-attacks.js';
import { confineToGuest, type ChannelControl, type LayerReport, type ProbeResult, type RuntimeReport, type Scoreboard } from './scoreboard.js';

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
  /** Servers whose runc lacks one defence layer each (weakened-runtime.ts): the probes run there too. */
  layers: { variant: string; removed: string; api: Api; dataDir: string }[];
  /** Expected runtimes left out on purpose (the operator narrowed the runtimes). */
  notRun: { runtime: string; reason: string }[];
  log?: (line: string) => void;
}

/** What every sandbox shares, as seen inside, and where a file written there would land on the host. */
const SHARED_IN_SANDBOX = ['/', '/.airlock', '/etc', '/usr/lib'];
function sharedOnHost(dataDir: string, name: string): string[] {
  const image = join(dataDir, 'images', 'default');
  return [join(image, 'rootfs', name), join(image, 'rootfs', '.airlock', name), join(image, 'etc', name), join('/usr/lib', name)];
}

/**
 * The strongest identity inside each runtime, which the probes run as: root, except in bwrap, which
 * maps a single unprivileged host uid to `user` (there is no root inside to use).
 */
/** Runtimes whose boundary is a kernel of their own (runtime description `isolation: 'microvm'`): their kernel-surface probes meet that kernel. */
const OWN_KERNEL: ReadonlySet<string> = new Set(['microvm']);
const BOOT_ID = /^[0-9a-f-]{36}$/;
const STRONGEST_USER: Record<string, string> = { runc: 'root', gvisor: 'root', bwrap: 'user', microvm: 'root' };

/** Host targets whose absence makes a probe moot on this host (nothing there to reach). */
const ABSENT_ON_HOST = /No such file|ENOSYS/;

/** The runtime the one-off measurements (frame controls, fairness) use: the cheapest to create. */
const CHEAPEST = ['runc', 'bwrap', 'gvisor'];

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
  const frameSeed = randomBytes(4).readUInt32BE(0);

  const hostBefore = hostFacts(o.dataDir);
  const controls = await probeControls(base, writeDir, scratch, o.envCanary, o.workDir);
  const channelHost = await channelControls();
  log(
    `host controls: ${[...controls.values()].filter((c) => c.fired).length}/${controls.size} probes, ${[...channelHost.values()].filter((c) => c.fired).length}/4 channel attacks fired`,
  );

  const reports: RuntimeReport[] = [];
  const channelControlsSeen: ChannelControl[] = [];
  for (const runtime of o.runtimes) {
    log(`${runtime}: probes`);
    const { probes, bootId } = await probeRuntime({ api: o.api, dataDir: o.dataDir, serverOutput: o.serverOutput }, runtime, base, writeDir, controls);
    log(`${runtime}: hostile channel`);
    const users: ('root' | 'user')[] = STRONGEST_USER[runtime] === 'root' ? ['root', 'user'] : ['user'];
    const channel = await probeChannel({ api: o.api, runtime, dataDir: o.dataDir, seed: frameSeed, users, hostControls: channelHost });
    channelControlsSeen.push(channel.control);
    log(`${runtime}: ${channel.results.map((c) => `${c.id} ${c.verdict}`).join(', ')}`);
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
    reports.push({ runtime, probes, attacks, channel: channel.results, ...(OWN_KERNEL.has(runtime) ? { ownKernel: distinctKernel(bootId) } : {}) });
  }

  const cheapest = CHEAPEST.find((r) => o.runtimes.includes(r)) ?? o.runtimes[0]!;
  log(`${cheapest}: every hostile frame alone, from the host`);
  const perFrame = await frameControls(o.api, cheapest, o.dataDir, frameSeed);
  log(`${cheapest}: fairness under floods`);
  const fairness = await measureFairness(o.api, cheapest, o.dataDir, o.serverPid);
  for (const f of fairness) log(`fairness: ${f.name}: ${f.ok ? 'ok' : 'FAILED'} (${f.detail})`);

  const layers: LayerReport[] = [];
  for (const l of o.layers) {
    log(`${l.variant} (without ${l.removed}): probes`);
    const target = { api: l.api, dataDir: l.dataDir, serverOutput: undefined };
    layers.push({
      variant: l.variant,
      removed: l.removed,
      probes: (await probeRuntime(target, 'runc', { ...base, dataDir: l.dataDir }, writeDir, controls)).probes,
    });
  }
  const hostAfter = hostFacts(o.dataDir);
  rmSync(canaryDir, { recursive: true, force: true });
  rmSync(writeDir, { recursive: true, force: true });
  // The host checks are in: only now can a kernel-surface probe in a VM be judged guest-only.
  return confineToGuest(
    {
      generatedAt: new Date().toISOString(),
      host: { kernel: release(), cpus: cpus().length, sysctls: hostSysctls() },
      runtimes: reports,
      layers,
      channelControls: [...channelControlsSeen, ...perFrame],
      fairness,
      frameSeed,
      notRun: o.notRun,
      hostChecks: Object.keys(hostBefore).map((name) => ({
        name,
        ok: hostBefore[name] === hostAfter[name],
        detail: hostBefore[name] === hostAfter[name] ? `unchanged (${hostBefore[name]!.slice(0, 16)})` : `${hostBefore[name]} -> ${hostAfter[name]}`,
      })),
    },
    OWN_KERNEL,
  );
}

/** The host's boot id against the one read inside: another kernel instance has another one. */
function distinctKernel(inside: string | undefined): { distinct: boolean; detail: string } {
  const host = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  if (!inside || !BOOT_ID.test(inside)) return { distinct: false, detail: `no boot id read inside (${JSON.stringify(inside?.slice(0, 60))})` };
  return {
    distinct: inside !== host,
    detail: inside !== host ? `boot id ${inside.slice(0, 8)}… inside, ${host.slice(0, 8)}… on the host` : 'the same boot id as the host',
  };
}

/** The server a runtime is probed through; without its output, the host-side H1 probe is left out. */
interface Target {
  api: Api;
  dataDir: string;
  serverOutput: (() => string) | undefined;
}

async function probeRuntime(
  o: Target,
  runtime: string,
  base: BaseArgs,
  writeDir: string,
  controls: Map<string, Control>,
): Promise<{ probes: ProbeResult[]; bootId: string | undefined }> {
  const box = await o.api.create({ runtime, timeout: 900 });
  const neighbour = await o.api.create({ runtime, timeout: 900 });
  const marker = `airlockmarker${randomBytes(4).toString('hex')}`;
  const markerRun = o.api.exec(neighbour.id, { cmd: renamedSleep(marker, 30), timeout: 40 }).catch(() => undefined);
  try {
    await delay(300);
    const foreignPids = processesMatching((c) => c.includes(neighbour.id) || c.startsWith(marker)).map((p) => p.pid);
    const writeTarget = join(writeDir, `${runtime}-${box.id}`);
    const user = STRONGEST_USER[runtime] ?? 'root';
    const { results: raw, failure } = await runInSandbox(o.api, box.id, user, { ...base, writeTarget, marker, foreignPids, sharedDirs: SHARED_IN_SANDBOX });
    const poisoned = takeShared(sharedOnHost(o.dataDir, base.sharedName));
    const results: ProbeResult[] = [];
    for (const id of IN_SANDBOX_PROBES) {
      let r: RawResult = raw.get(id) ?? { id, error: failure };
      const tried = 'detail' in r ? r.detail : '';
      // The write probes are judged on the host: did a file appear there? (Only if the probe itself ran.)
      if (id === 'B2.canary-write' && !('error' in r)) {
        r = {
          id,
          fired: existsSync(writeTarget),
          detail: existsSync(writeTarget) ? 'a file appeared in the host dir' : `no file appeared on the host (${tried})`,
        };
      }
      if (id === 'E4.image-write' && !('error' in r)) {
        r = {
          id,
          fired: poisoned.length > 0,
          detail: poisoned.length > 0 ? `landed on the host: ${poisoned.join(', ')}` : `no file appeared on the host (${tried})`,
        };
      }
      results.push(judge(id, r, controls.get(id)));
    }
    results.push(await probeHostUid(o.api, box.id, neighbour.id, user));
    if (o.serverOutput) results.push(await probeCreateEnv(o.api, runtime, join(o.dataDir, 'runtime'), o.serverOutput));
    const bootId = OWN_KERNEL.has(runtime) ? (await o.api.exec(box.id, { cmd: ['cat', '/proc/sys/kernel/random/boot_id'] })).stdout.trim() : undefined;
    return { probes: results, bootId };
  } finally {
    await o.api.call('DELETE', `/v1/sandboxes/${box.id}`);
    await o.api.call('DELETE', `/v1/sandboxes/${neighbour.id}`);
    await markerRun;
  }
}

/**
 * A probe's verdict in the sandbox, read against its control on the host. In this order: a probe
 * that crashed or gave nothing is an `error` (never blocked); one that got through is `escaped`,
 * whatever its control says; only then can a target the host itself lacks make it not applicable.
 */
export function judge(id: string, r: RawResult | undefined, control: Control | undefined): ProbeResult {
  const absentOnHost = control !== undefined && !control.fired && control.error === undefined && ABSENT_ON_HOST.test(control.detail);
  const controlState = control?.fired ? 'passed' : absentOnHost ? 'not applicable' : 'failed';
  const controlDetail = control?.detail ?? 'no control result';
  const out = (verdict: ProbeResult['verdict'], detail: string): ProbeResult => ({ id, verdict, detail, control: controlState, controlDetail });
  if (r === undefined) return out('error', 'the probe gave no result');
  if ('error' in r) return out('error', `the probe crashed: ${r.error}`);
  if ('fired' in r && r.fired) return out('escaped', r.detail);
  if (absentOnHost) return out('not applicable', `the host itself has no such target (${controlDetail})`);
  if ('na' in r) return out('not applicable', r.na);
  return out('blocked', r.detail);
}
