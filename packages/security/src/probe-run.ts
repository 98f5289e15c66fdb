/**
 * @module probe-run
 * Runs probes.py inside a sandbox (through the real API, as the strongest user inside) and on the host (the
 * positive control: no isolation at all, so every probe whose target exists must fire there).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Api } from '@airlock/testkit/harness.js';

/** probes.py stays next to the TypeScript sources (tsc does not copy it). */
export const PROBES_PY = fileURLToPath(new URL('../src/probes.py', import.meta.url));

/** `error`: the probe crashed (its result is unknown). */
export type RawResult = { id: string; fired: boolean; detail: string } | { id: string; na: string } | { id: string; error: string };

export interface ProbeArgs {
  probes: string[];
  canaryPath: string;
  canaryText: string;
  shadowSha256: string;
  dataDir: string;
  writeTarget: string;
  marker: string;
  foreignPids: number[];
  envCanary: string;
  /** Directories every sandbox shares (as seen inside), and the file name E4 tries to create there. */
  sharedDirs: string[];
  sharedName: string;
  scratch?: string;
}

function parse(stdout: string): Map<string, RawResult> {
  const out = new Map<string, RawResult>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as RawResult;
    out.set(r.id, r);
  }
  return out;
}

/** The probes' results; a probe missing from them (probes.py itself failed) is an error with `failure` as its reason. */
export async function runInSandbox(api: Api, sandboxId: string, user: string, args: ProbeArgs): Promise<{ results: Map<string, RawResult>; failure: string }> {
  const put = await api.call('PUT', `/v1/sandboxes/${sandboxId}/files?path=/tmp/airlock-probes.py`, readFileSync(PROBES_PY), {
    'content-type': 'application/octet-stream',
  });
  if (put.status !== 200) throw new Error(`upload of probes.py failed: ${put.status} ${JSON.stringify(put.body)}`);
  const r = await api.exec(sandboxId, { cmd: ['python3', '/tmp/airlock-probes.py', JSON.stringify(args)], user, timeout: 120 });
  const failure = r.exitCode === 0 ? 'no result' : `probes.py failed (${r.reason} ${r.exitCode}): ${String(r.stderr).slice(-500)}`;
  return { results: parse(r.stdout), failure };
}

/**
 * The positive control: the same probes on the host as root, with a deliberately leaked file
 * descriptor (fd 3, a host directory: the Leaky Vessels shape) and the canary in its environment.
 */
export async function runOnHost(args: ProbeArgs, env: Record<string, string>, leakDir: string): Promise<Map<string, RawResult>> {
  const leak = openSync(leakDir, 'r');
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn('python3', [PROBES_PY, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe', leak], env: { ...env } });
      let out = '';
      let err = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`host probes failed (${code}): ${err.slice(-2000)}`))));
    });
    return parse(stdout);
  } finally {
    closeSync(leak);
  }
}
