/**
 * @module sandbox/file-ops
 * The file API beyond read/write/list, for running sandboxes: stat, exists, mkdir -p, remove,
 * rename, chmod, symlink, a listing with a depth, multi-file writes (bounded by config) and watch.
 * Everything is done by the agent inside the sandbox, with the rights of the operation's user (the
 * image's default user unless the caller names one); no host code resolves a sandbox path.
 */
import { constants } from 'node:os';
import type { DirEntry, StatResult, WatchEvent } from '@airlock/agent';
import { ErrorCode } from '@airlock/protocol/errors';
import { chmodPath, mkdirPath, removePath, renamePath, statPath, symlinkPath, watchPath } from '../agent-channel/file-ops.js';
import { listDir } from '../agent-channel/files.js';
import { AgentOpError } from '../agent-channel/errors.js';
import { AirlockError } from '../errors.js';
import { fileOp, writeSandboxFile, type FileLimits } from './files.js';
import type { LiveSandbox } from './live.js';

export interface FileOpsDeps {
  live(action: string, id: string): Promise<{ live: LiveSandbox }>;
  limits: FileLimits & { maxBatchFiles: number; maxBatchBytes: number };
}

type User = { user?: string | undefined };

export class FileOps {
  readonly #d: FileOpsDeps;

  constructor(deps: FileOpsDeps) {
    this.#d = deps;
  }

  async stat(id: string, path: string, o: User & { follow?: boolean | undefined }): Promise<StatResult> {
    const live = await this.#live('stat a file in', id);
    return fileOp(path, () => statPath(live.conn, path, this.#user(live, o), o.follow === false, this.#ms));
  }

  async exists(id: string, path: string, o: User): Promise<boolean> {
    try {
      await this.stat(id, path, { ...o, follow: false });
      return true;
    } catch (e) {
      if (e instanceof AirlockError && e.code === ErrorCode.NotFound) return false;
      throw e;
    }
  }

  async mkdir(id: string, path: string, o: User & { mode?: number | undefined; parents?: boolean | undefined }): Promise<void> {
    const live = await this.#live('make a directory in', id);
    await fileOp(path, () => mkdirPath(live.conn, path, this.#user(live, o), o.mode ?? 0o755, o.parents !== false, this.#ms));
  }

  async remove(id: string, path: string, o: User & { recursive?: boolean | undefined }): Promise<void> {
    const live = await this.#live('remove a file in', id);
    // A recursive removal runs in a worker in the agent; its deadline is the idle one, for the whole tree.
    await fileOp(path, () => removePath(live.conn, path, this.#user(live, o), o.recursive === true, this.#ms));
  }

  async rename(id: string, from: string, to: string, o: User & { overwrite?: boolean | undefined }): Promise<void> {
    const live = await this.#live('rename a file in', id);
    try {
      await fileOp(from, () => renamePath(live.conn, from, to, this.#user(live, o), o.overwrite === false, this.#ms));
    } catch (e) {
      throw e instanceof AirlockError && /File exists/.test(e.message) ? new AirlockError(ErrorCode.InvalidState, `${to} exists (overwrite: false)`) : e;
    }
  }

  async chmod(id: string, path: string, mode: number, o: User): Promise<void> {
    const live = await this.#live('chmod a file in', id);
    await fileOp(path, () => chmodPath(live.conn, path, this.#user(live, o), mode, this.#ms));
  }

  async symlink(id: string, target: string, path: string, o: User): Promise<void> {
    const live = await this.#live('make a symlink in', id);
    await fileOp(path, () => symlinkPath(live.conn, target, path, this.#user(live, o), this.#ms));
  }

  async list(id: string, path: string, o: User & { depth?: number | undefined }): Promise<DirEntry[]> {
    const live = await this.#live('list files in', id);
    return fileOp(path, () =>
      listDir(live.conn, path, { user: this.#user(live, o), maxEntries: this.#d.limits.maxListEntries, deadlines: { idleMs: this.#ms }, depth: o.depth ?? 1 }),
    );
  }

  /** Writes every file (each atomically, parents made); bounded in count and bytes by config. */
  async writeMany(id: string, files: { path: string; data: Buffer; mode?: number | undefined }[], o: User): Promise<{ path: string; bytes: number }[]> {
    const { maxBatchFiles, maxBatchBytes } = this.#d.limits;
    if (files.length > maxBatchFiles)
      throw new AirlockError(ErrorCode.PayloadTooLarge, `${files.length} files in one write; this server takes at most ${maxBatchFiles}`);
    const total = files.reduce((n, f) => n + f.data.length, 0);
    if (total > maxBatchBytes)
      throw new AirlockError(
        ErrorCode.PayloadTooLarge,
        `${total} bytes in one multi-file write; this server takes at most ${maxBatchBytes} (stream large files one by one)`,
      );
    const live = await this.#live('write files in', id);
    const out: { path: string; bytes: number }[] = [];
    for (const f of files) out.push({ path: f.path, bytes: await writeSandboxFile(live, f.path, f.data, { mode: f.mode, user: o.user }, this.#d.limits) });
    return out;
  }

  /** A watch in place (404 for a missing path); its events until the iterator is returned. */
  async watch(id: string, path: string, o: User & { recursive?: boolean | undefined }): Promise<AsyncGenerator<WatchEvent[]>> {
    const live = await this.#live('watch files in', id);
    return fileOp(path, () => watchPath(live.conn, path, this.#user(live, o), o.recursive === true, this.#ms));
  }

  /** For the archive module: the live sandbox, and the user an operation runs as. */
  async liveAndUser(action: string, id: string, o: User): Promise<{ live: LiveSandbox; user: string }> {
    const live = await this.#live(action, id);
    return { live, user: this.#user(live, o) };
  }

  get limits(): FileLimits {
    return this.#d.limits;
  }

  get #ms(): number {
    return this.#d.limits.idleMs;
  }

  #user(live: LiveSandbox, o: User): string {
    return o.user ?? live.defaults.user;
  }

  async #live(action: string, id: string): Promise<LiveSandbox> {
    return (await this.#d.live(action, id)).live;
  }
}

export const isEexist = (e: unknown) => e instanceof AgentOpError && e.errno === constants.errno.EEXIST;
