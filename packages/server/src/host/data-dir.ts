/**
 * @module data-dir
 * The server's data directory, owned by one server at a time. Layout:
 *   db/ (0700) the SQLite store · runtime/ (0700) runc/runsc state, bundles, shim sockets ·
 *   images/ (0755) read-only image roots and the agent binary · credentials.json (0600) · server.pid
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

/** Creates the data dir and takes its lock; returns a function that releases it. */
export function claimDataDir(dataDir: string): () => void {
  // 0711: others may traverse (a user-namespaced sandbox must reach the image and agent below it)
  // but not list; everything private inside is 0700/0600.
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  chmodSync(dataDir, 0o711);
  assertTraversable(dataDir);
  const lock = join(dataDir, 'server.pid');
  try {
    writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
  } catch {
    const holder = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
      throw new DataDirError(`another Airlock server (pid ${holder}) is using ${dataDir}; stop it or pick another --data-dir`);
    }
    // A server that died without cleaning up (kill -9): take over its lock.
    writeFileSync(lock, `${process.pid}\n`, { mode: 0o600 });
  }
  return () => rmSync(lock, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Sandboxes with a user namespace mount the image and the agent as an unprivileged host uid, so
 * every directory above the data dir must be searchable by others.
 */
function assertTraversable(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new DataDirError(
        `${d} is not searchable by other users (mode ${(statSync(d).mode & 0o777).toString(8)}); sandboxes could not reach ${dir}. Run chmod o+x ${d} or pick another --data-dir`,
      );
    }
    if (d === dirname(d)) return;
  }
}

/** Host files bind-mounted into sandboxes, at paths every sandbox can reach. */
export interface NativeFiles {
  agent: string;
  /** gVisor only: the statx compatibility library and an ld.so.preload that names it. */
  statxCompat: string;
  ldPreload: string;
  /** An empty read-only file, mounted over device nodes a runtime adds that a sandbox must not reach. */
  empty: string;
}

/** Copies the native files into `<data-dir>/images/agent` (0755) and returns their paths. */
export function installNative(dataDir: string, sources: { agent: string; statxCompat: string }, preloadPath: string): NativeFiles {
  const dir = join(dataDir, 'images', 'agent');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const install = (source: string, name: string) => {
    const target = join(dir, name);
    const tmp = `${target}.${process.pid}.tmp`;
    copyFileSync(source, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
    return target;
  };
  const ldPreload = join(dir, 'ld.so.preload');
  writeFileSync(ldPreload, `${preloadPath}\n`, { mode: 0o644 });
  const empty = join(dir, 'empty');
  writeFileSync(empty, '', { mode: 0o444 });
  return { agent: install(sources.agent, 'airlock-agent'), statxCompat: install(sources.statxCompat, 'airlock-statx-compat.so'), ldPreload, empty };
}

export function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
  return path;
}
