/**
 * @module sandbox/files
 * File operations of a live sandbox, run by its agent with the rights of the operation's user (the
 * image's default user unless the caller names one), and what their failures mean to a user.
 */
import { constants } from 'node:os';
import type { DirEntry } from '@airlock/agent';
import { ErrorCode } from '@airlock/protocol/errors';
import { listDir, readFile, writeFile } from '../agent-channel/files.js';
import { AgentOpError, AgentProtocolError, AgentTimeoutError } from '../agent-channel/errors.js';
import { AirlockError } from '../errors.js';
import type { LiveSandbox } from './live.js';

// The agent reports Linux errno values; the host is Linux too.
const { ENOENT, ENOSPC, EDQUOT } = constants.errno;

export interface FileLimits {
  idleMs: number;
  maxListEntries: number;
}

export function writeSandboxFile(
  live: LiveSandbox,
  path: string,
  data: AsyncIterable<Uint8Array> | Uint8Array,
  opts: { mode?: number | undefined; user?: string | undefined },
  limits: FileLimits,
): Promise<number> {
  return fileOp(path, () =>
    writeFile(live.conn, path, data, {
      mode: opts.mode ?? 0o644,
      user: opts.user ?? live.defaults.user,
      mkdirParents: true,
      deadlines: { idleMs: limits.idleMs },
    }),
  );
}

/** Opens a file for reading; resolves once its first chunk (or its end) arrived, so errors surface before any byte is sent. */
export async function readSandboxFile(
  live: LiveSandbox,
  path: string,
  opts: { user?: string | undefined },
  limits: FileLimits,
): Promise<AsyncIterable<Buffer>> {
  const chunks = readFile(live.conn, path, { user: opts.user ?? live.defaults.user, deadlines: { idleMs: limits.idleMs } });
  const first = await fileOp(path, () => chunks.next());
  return (async function* () {
    if (!first.done) yield first.value;
    try {
      yield* chunks;
    } catch (e) {
      throw mapFileError(path, e);
    }
  })();
}

export function listSandboxDir(live: LiveSandbox, path: string, opts: { user?: string | undefined }, limits: FileLimits): Promise<DirEntry[]> {
  return fileOp(path, () =>
    listDir(live.conn, path, { user: opts.user ?? live.defaults.user, maxEntries: limits.maxListEntries, deadlines: { idleMs: limits.idleMs } }),
  );
}

export async function fileOp<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw mapFileError(path, e);
  }
}

export function mapFileError(path: string, e: unknown): unknown {
  if (e instanceof AirlockError) return e;
  if (e instanceof AgentOpError) {
    if (e.errno === ENOENT) return new AirlockError(ErrorCode.NotFound, `${path}: ${e.message}`);
    if (e.errno === ENOSPC || e.errno === EDQUOT) return new AirlockError(ErrorCode.StorageFull, `${path}: the sandbox's disk is full (${e.message})`);
    return new AirlockError(ErrorCode.FileError, `${path}: ${e.message}`);
  }
  if (e instanceof AgentTimeoutError) return new AirlockError(ErrorCode.AgentUnresponsive, `${path}: ${e.message}`);
  if (e instanceof AgentProtocolError)
    return new AirlockError(ErrorCode.InvalidState, `the sandbox was stopped during the file operation: its agent broke the protocol (${e.message})`);
  return new AirlockError(ErrorCode.InvalidState, `the sandbox stopped during the file operation (${(e as Error).message})`);
}
