/**
 * @module agent-channel/file-ops
 * The agent's one-answer file operations (STAT, MKDIR, REMOVE, RENAME, CHMOD, SYMLINK) and WATCH, a
 * stream of inotify events under CREDIT (a consumer that stops taking events stops the agent reading
 * its inotify queue, which the kernel bounds and reports as overflow).
 */
import {
  AgentFrame,
  HostFrame,
  decodeError,
  decodeStatResult,
  decodeWatchEvents,
  encodeChmod,
  encodeCredit,
  encodeMkdir,
  encodeRemove,
  encodeRename,
  encodeStat,
  encodeSymlink,
  encodeWatch,
  type StatResult,
  type WatchEvent,
} from '@airlock/agent';
import type { AgentConnection } from './agent-connection.js';
import { CreditLedger } from './credit.js';
import { AgentOpError, AgentTimeoutError } from './errors.js';
import { simpleOp } from './process-channel.js';

export function statPath(conn: AgentConnection, path: string, user: string, noFollow: boolean, timeoutMs: number): Promise<StatResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ch.abandon();
      reject(new AgentTimeoutError(`the agent did not stat ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    const ch = conn.open('stat', {
      frame: (f) => {
        clearTimeout(timer);
        if (f.type === AgentFrame.StatResult) return resolve(decodeStatResult(f.payload));
        const { errno, message } = decodeError(f.payload);
        reject(new AgentOpError(errno, message));
      },
      closed: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    });
    ch.send(HostFrame.Stat, encodeStat(path, user, noFollow));
  });
}

export const mkdirPath = (conn: AgentConnection, path: string, user: string, mode: number, parents: boolean, ms: number) =>
  simpleOp(conn, HostFrame.Mkdir, encodeMkdir(path, user, mode, parents), ms, `make ${path}`);
export const removePath = (conn: AgentConnection, path: string, user: string, recursive: boolean, ms: number) =>
  simpleOp(conn, HostFrame.Remove, encodeRemove(path, user, recursive), ms, `remove ${path}`);
export const renamePath = (conn: AgentConnection, from: string, to: string, user: string, noReplace: boolean, ms: number) =>
  simpleOp(conn, HostFrame.Rename, encodeRename(from, to, user, noReplace), ms, `rename ${from}`);
export const chmodPath = (conn: AgentConnection, path: string, user: string, mode: number, ms: number) =>
  simpleOp(conn, HostFrame.Chmod, encodeChmod(path, user, mode), ms, `chmod ${path}`);
export const symlinkPath = (conn: AgentConnection, target: string, path: string, user: string, ms: number) =>
  simpleOp(conn, HostFrame.Symlink, encodeSymlink(target, path, user), ms, `make the symlink ${path}`);

/**
 * Watches `path`. Resolves once the watch is in place (or rejects: ENOENT for a missing path); the
 * events then arrive through the iterator until it is returned (CANCEL) or the channel closes.
 */
export async function watchPath(
  conn: AgentConnection,
  path: string,
  user: string,
  recursive: boolean,
  timeoutMs: number,
): Promise<AsyncGenerator<WatchEvent[]>> {
  const queue: WatchEvent[][] = [];
  const credit = new CreditLedger();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  let ready!: () => void;
  let refuse!: (e: Error) => void;
  const readyP = new Promise<void>((res, rej) => ((ready = res), (refuse = rej)));
  let isReady = false;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const ch = conn.open('watch', {
    frame: (f) => {
      if (f.type === AgentFrame.WatchEvents) {
        if (!isReady) {
          isReady = true;
          ready();
        }
        const overrun = credit.received(f.payload.length);
        if (overrun) return conn.fail(overrun);
        const events = decodeWatchEvents(f.payload);
        // The empty frame that says "in place" takes no credit back; others are granted as taken.
        if (events.length > 0) queue.push(events);
        else credit.taken(f.payload.length);
      } else {
        const { errno, message } = decodeError(f.payload);
        failure = new AgentOpError(errno, message);
        if (!isReady) refuse(failure);
      }
      notify();
    },
    closed: (err) => {
      failure = err;
      if (!isReady) refuse(err);
      notify();
    },
  });
  ch.send(HostFrame.Watch, encodeWatch(path, user, recursive));
  const timer = setTimeout(() => refuse(new AgentTimeoutError(`the agent did not set up the watch of ${path} within ${timeoutMs} ms`)), timeoutMs);
  try {
    await readyP;
  } catch (e) {
    if (!conn.closed && !(e instanceof AgentOpError)) {
      ch.send(HostFrame.Cancel);
      ch.abandon();
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return (async function* () {
    try {
      for (;;) {
        const batch = queue.shift();
        if (batch) {
          const bytes = batch.reduce((n, e) => n + 6 + Buffer.byteLength(e.path), 0);
          const grant = credit.taken(bytes);
          if (grant > 0 && !conn.closed) ch.send(HostFrame.Credit, encodeCredit(grant));
          yield batch;
          continue;
        }
        if (failure) throw failure;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      if (!conn.closed && !(failure instanceof AgentOpError)) {
        ch.send(HostFrame.Cancel);
        ch.abandon();
      }
    }
  })();
}
