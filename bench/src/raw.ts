/**
 * @module raw
 * The raw runtimes, driven the way Airlock drives them but without Airlock: `runc run`/`runsc run`
 * of a bundle made from a live sandbox's own config.json, and `runc exec`/`runsc exec` into a live
 * sandbox. These are the baselines the Airlock figures are compared with in the same run.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RawRuntime {
  binary: string;
  globalArgs: string[];
  stateDir: string;
  bundlesDir: string;
}

export function rawRuntime(dataDir: string, runtime: 'runc' | 'gvisor'): RawRuntime {
  const base = join(dataDir, 'runtime', runtime);
  return {
    binary: runtime === 'runc' ? 'runc' : 'runsc',
    globalArgs: runtime === 'runc' ? [] : ['--platform=ptrace', '--network=none'],
    stateDir: join(base, 'state'),
    bundlesDir: join(base, 'bundles'),
  };
}

/** `runc exec <sandbox> /bin/true`: what an exec costs without the agent. */
export function rawExec(rt: RawRuntime, id: string, argv: string[]): void {
  const r = spawnSync(rt.binary, ['--root', rt.stateDir, ...rt.globalArgs, 'exec', id, ...argv], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${rt.binary} exec failed with ${r.status}`);
}

/**
 * `runc run` of a one-shot copy of a live sandbox's bundle, running argv instead of the agent.
 * Times the run only (until the command's output is back), not the delete after it.
 */
export function rawRun(rt: RawRuntime, templateId: string, runId: string, argv: string[]): { ms: number; output: string } {
  const spec = JSON.parse(readFileSync(join(rt.bundlesDir, templateId, 'config.json'), 'utf8'));
  spec.process.args = argv;
  spec.linux.cgroupsPath = `/airlock/${runId}`;
  const dir = join(rt.bundlesDir, `${runId}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  try {
    const t0 = performance.now();
    const output = execFileSync(rt.binary, ['--root', rt.stateDir, ...rt.globalArgs, 'run', '--bundle', dir, runId], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { ms: performance.now() - t0, output };
  } finally {
    spawnSync(rt.binary, ['--root', rt.stateDir, ...rt.globalArgs, 'delete', '--force', runId], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One raw lifecycle without blocking the event loop, so that several run at once: `runc run` of a
 * one-shot bundle until the command exits (run removes the container), then the cleanup a platform
 * must do. Times all of it.
 */
export async function rawLifecycle(rt: RawRuntime, templateId: string, runId: string, argv: string[]): Promise<number> {
  const spec = JSON.parse(readFileSync(join(rt.bundlesDir, templateId, 'config.json'), 'utf8'));
  spec.process.args = argv;
  spec.linux.cgroupsPath = `/airlock/${runId}`;
  const dir = join(rt.bundlesDir, runId);
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  try {
    const code = await exitOf(rt.binary, ['--root', rt.stateDir, ...rt.globalArgs, 'run', '--bundle', dir, runId]);
    if (code !== 0) throw new Error(`${rt.binary} run exited with ${code}`);
  } finally {
    await exitOf(rt.binary, ['--root', rt.stateDir, ...rt.globalArgs, 'delete', '--force', runId]);
    rmSync(dir, { recursive: true, force: true });
  }
  return performance.now() - t0;
}

function exitOf(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}
