/**
 * @module buildah
 * Test and bench support: Debian's buildah as the reference builder, with its storage in a private
 * directory (never the host's /var/lib/containers) and chroot isolation (which keeps the host network:
 * the Dockerfiles given to it must not use one), so it needs
 * nothing but the loopback registry. `remove()` unmounts and deletes everything it made.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface Buildah {
  /** Builds `dockerfile` with `contextDir`; returns the wall time in ms. */
  bud(contextDir: string, dockerfile: string, tag: string, extra?: string[]): number;
  /** Runs `script` in a working container of `base` (pulled first), then times `buildah commit` of it alone (ms). */
  timeCommit(base: string, script: string, tag: string): number;
  /** Mounts the image's root filesystem read-only-ish (a working container) and returns its path. */
  mount(tag: string): string;
  remove(): void;
}

export function buildahAvailable(): boolean {
  return spawnSync('buildah', ['--version']).status === 0;
}

export function startBuildah(dir: string, insecureRegistry: string, driver: 'overlay' | 'vfs' = 'overlay'): Buildah {
  const root = join(dir, 'root');
  const runroot = join(dir, 'run');
  mkdirSync(root, { recursive: true });
  mkdirSync(runroot, { recursive: true });
  const registries = join(dir, 'registries.conf');
  // Only the loopback registry, reached over plain HTTP; no search registries.
  require0(spawnSync('sh', ['-c', `printf '[[registry]]\\nlocation = "%s"\\ninsecure = true\\n' "${insecureRegistry}" > "${registries}"`]), 'registries.conf');
  const containers: string[] = [];
  const run = (args: string[]) => {
    const r = spawnSync('buildah', ['--root', root, '--runroot', runroot, '--storage-driver', driver, ...args], {
      env: { ...process.env, CONTAINERS_REGISTRIES_CONF: registries, BUILDAH_ISOLATION: 'chroot' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return require0(r, `buildah ${args.slice(0, 2).join(' ')}`);
  };
  return {
    bud(contextDir, dockerfile, tag, extra = []) {
      const start = performance.now();
      run(['bud', '--isolation', 'chroot', '--layers', '--tls-verify=false', '-f', dockerfile, '-t', tag, ...extra, contextDir]);
      return performance.now() - start;
    },
    timeCommit(base, script, tag) {
      run(['pull', '--tls-verify=false', '--quiet', base]);
      const ctr = run(['from', '--pull-never', base]).trim();
      containers.push(ctr);
      run(['run', '--isolation', 'chroot', ctr, '--', 'sh', '-c', script]);
      const start = performance.now();
      run(['commit', '--quiet', ctr, tag]);
      return performance.now() - start;
    },
    mount(tag) {
      const ctr = run(['from', '--pull-never', tag]).trim();
      containers.push(ctr);
      return run(['mount', ctr]).trim();
    },
    remove() {
      const base = ['--root', root, '--runroot', runroot, '--storage-driver', driver];
      for (const c of containers) spawnSync('buildah', [...base, 'rm', c]);
      spawnSync('buildah', [...base, 'rmi', '--all', '--force']);
      // containers/storage may leave its own bind mounts under the root: deepest first.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m): m is string => m !== undefined && m.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) spawnSync('umount', ['-l', m]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function require0(r: ReturnType<typeof spawnSync>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${String(r.stderr).slice(-2000)}`);
  return String(r.stdout);
}
