/**
 * @module host-side-probes
 * Probes whose effect can only be judged from the host: which host uid a sandbox's root really is
 * (E3), and whether an env value given at create leaks into logs, API answers, host argv or the
 * runtime's files (H1). Each returns its own positive control.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ID_RANGE_BASE } from '@airlock/server/internal/runtimes/oci-spec.js';
import type { Api } from '@airlock/testkit/harness.js';
import { hostUid, processesMatching, renamedSleep } from '@airlock/testkit/host-probe.js';
import type { ProbeResult } from './scoreboard.js';

/** Why a host uid is not safe for a sandbox's root, or undefined if it is. */
export function unsafeUid(uid: number, otherSandboxUid: number | undefined): string | undefined {
  if (uid === 0) return 'host root';
  if (uid === process.getuid?.()) return 'the server uid';
  if (uid < ID_RANGE_BASE) return `uid ${uid} outside Airlock's range`;
  if (uid === otherSandboxUid) return `uid ${uid} shared with another sandbox`;
  return undefined;
}

async function hostUidOf(api: Api, sandboxId: string, user: string): Promise<number | undefined> {
  const marker = `airlockuid${Math.random().toString(36).slice(2, 10)}`;
  // Ended by its exec timeout at the latest (gVisor: never a host process), else killed once read.
  const running = api.exec(sandboxId, { cmd: renamedSleep(marker, 30), user, timeout: 3 });
  let found: { pid: number }[] = [];
  for (let i = 0; i < 40 && found.length === 0; i++) {
    await delay(50);
    found = processesMatching((cmd) => cmd.startsWith(marker));
  }
  const uid = found[0] ? hostUid(found[0].pid) : undefined; // while it still runs
  for (const p of found) {
    try {
      process.kill(p.pid, 'SIGKILL'); // the sandbox's own sleep, found by its unique name
    } catch {
      // gone already
    }
  }
  await running.catch(() => {});
  return uid;
}

export async function probeHostUid(api: Api, sandboxId: string, neighbourId: string, user: string): Promise<ProbeResult> {
  const controlReason = unsafeUid(process.getuid?.() ?? 0, undefined);
  const control = { control: controlReason ? ('passed' as const) : ('failed' as const), controlDetail: `the server's own uid is flagged: ${controlReason}` };
  const [mine, theirs] = [await hostUidOf(api, sandboxId, user), await hostUidOf(api, neighbourId, user)];
  if (mine === undefined) {
    return { id: 'E3.host-uid', verdict: 'not applicable', detail: 'sandbox processes are not host processes (own kernel)', ...control };
  }
  const why = unsafeUid(mine, theirs);
  return {
    id: 'E3.host-uid',
    verdict: why ? 'escaped' : 'blocked',
    detail: why ?? `${user} inside is host uid ${mine}, the neighbour's ${theirs}`,
    ...control,
  };
}

/** Files under `dir` (bounded) that contain `needle`. */
function filesContaining(dir: string, needle: string, budget = { files: 2000 }): string[] {
  const hits: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return hits;
  }
  for (const e of entries) {
    if (budget.files-- <= 0) break;
    const p = join(dir, e);
    try {
      const st = statSync(p);
      if (st.isDirectory()) hits.push(...filesContaining(p, needle, budget));
      else if (st.isFile() && st.size < 8 * 1024 * 1024 && readFileSync(p).includes(needle)) hits.push(p);
    } catch {
      // vanished or a socket
    }
  }
  return hits;
}

export async function probeCreateEnv(api: Api, runtime: string, runtimeDir: string, serverOutput: () => string): Promise<ProbeResult> {
  const canary = `airlock-env-canary-${Math.random().toString(36).slice(2, 14)}`;
  const box = await api.create({ runtime, env: { AIRLOCK_PROBE_TOKEN: canary } });
  try {
    const planted = await api.exec(box.id, { cmd: ['printenv', 'AIRLOCK_PROBE_TOKEN'] });
    const control = planted.stdout === `${canary}\n`;
    // Provoke the paths that log: a failed exec, a bad request, a missing file.
    await api.call('POST', `/v1/sandboxes/${box.id}/exec`, { cmd: ['/no/such/binary'] });
    await api.call('POST', `/v1/sandboxes/${box.id}/exec`, { cmd: ['true'], user: 'nosuchuser' });
    await api.call('GET', `/v1/sandboxes/${box.id}/files?path=/no/such/file`);
    const one = await api.call('GET', `/v1/sandboxes/${box.id}`);
    const list = await api.call('GET', '/v1/sandboxes');
    const where: string[] = [];
    if (serverOutput().includes(canary)) where.push('server log');
    if (JSON.stringify(one.body).includes(canary) || JSON.stringify(list.body).includes(canary)) where.push('API response');
    if (processesMatching((cmd) => cmd.includes(canary)).length > 0) where.push('host argv');
    where.push(...filesContaining(runtimeDir, canary));
    return {
      id: 'H1.create-env',
      verdict: where.length > 0 ? 'escaped' : 'blocked',
      detail: where.length > 0 ? `canary found in: ${where.join(', ')}` : 'canary in no log line, API answer, host argv or runtime file',
      control: control ? 'passed' : 'failed',
      controlDetail: control ? 'the canary is set inside the sandbox' : `printenv gave ${JSON.stringify(planted.stdout)}`,
    };
  } finally {
    await api.call('DELETE', `/v1/sandboxes/${box.id}`);
  }
}
