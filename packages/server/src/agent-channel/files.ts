/**
 * @module files
 * File operations performed by the agent inside the sandbox, with the rights of the operation's
 * user. The host never resolves a sandbox path. Every wait on the agent has a deadline, and a
 * consumer that stops early ends the operation in the agent (CANCEL) while the connection drains
 * what is still in flight.
 */
import { constants } from 'node:os';
import { AgentFrame, HostFrame, decodeDirEntries, decodeError, decodeOk, encodeCredit, encodeFileWrite, encodePath, type DirEntry } from '@airlock/agent';
import type { AgentConnection } from './agent-connection.js';
import { CreditLedger } from './credit.js';
import { AgentOpError, AgentTimeoutError } from './errors.js';

const CHUNK = 64 * 1024;

export interface FileDeadlines {
  /** How long the agent may take to answer an operation, or between two chunks of a read or listing. */
  idleMs: number;
}

/** A one-shot timer that a step of progress re-arms. */
function watchdog(ms: number, onExpire: () => void): { rearm(): void; stop(): void } {
  let timer = setTimeout(onExpire, ms);
  return {
    rearm: () => {
      clearTimeout(timer);
      timer = setTimeout(onExpire, ms);
    },
    stop: () => clearTimeout(timer),
  };
}

export async function writeFile(
  conn: AgentConnection,
  path: string,
  data: AsyncIterable<Uint8Array> | Uint8Array,
  options: { mode: number; user: string; mkdirParents: boolean; deadlines: FileDeadlines },
): Promise<number> {
  let settle!: { resolve(n: number): void; reject(e: Error): void };
  const done = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
  let failed = false;
  done.catch(() => (failed = true));
  const ch = conn.open('write', {
    frame: (f) => {
      if (f.type === AgentFrame.Ok) return settle.resolve(decodeOk(f.payload).bytes);
      const { errno, message } = decodeError(f.payload);
      settle.reject(new AgentOpError(errno, message));
    },
    closed: (err) => settle.reject(err),
  });
  const cancel = () => {
    if (!conn.closed && !failed) ch.send(HostFrame.Cancel);
    ch.abandon();
  };
  try {
    ch.send(HostFrame.FileWrite, encodeFileWrite(path, options.mode, options.mkdirParents, options.user));
    const chunks = data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) {
      for (let off = 0; off < chunk.length; off += CHUNK) {
        if (failed) return await done;
        if (!ch.send(HostFrame.FileData, chunk.subarray(off, off + CHUNK))) await conn.drained(options.deadlines.idleMs);
      }
    }
    if (!failed) ch.send(HostFrame.FileEnd);
  } catch (e) {
    // The upload failed on our side (client gone, body over its limit, agent not reading): the agent
    // removes the partial file.
    cancel();
    throw e;
  }
  const dog = watchdog(options.deadlines.idleMs, () => {
    cancel();
    settle.reject(new AgentTimeoutError(`the agent did not finish writing ${path} within ${options.deadlines.idleMs} ms`));
  });
  try {
    return await done;
  } finally {
    dog.stop();
  }
}

/**
 * Streams a file out of the sandbox. The agent may run INITIAL_CREDIT bytes ahead; each chunk the
 * consumer takes is granted back, so a slow download holds only this read.
 */
export async function* readFile(conn: AgentConnection, path: string, options: { user: string; deadlines: FileDeadlines }): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  const credit = new CreditLedger();
  let finished = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const ch = conn.open('read', {
    frame: (f) => {
      if (f.type === AgentFrame.FileData) {
        queue.push(f.payload);
        const overrun = credit.received(f.payload.length);
        if (overrun) conn.fail(overrun);
      } else if (f.type === AgentFrame.FileEnd) {
        finished = true;
      } else {
        const { errno, message } = decodeError(f.payload);
        failure = new AgentOpError(errno, message);
      }
      notify();
    },
    closed: (err) => {
      failure = err;
      notify();
    },
  });
  ch.send(HostFrame.FileRead, encodePath(path, options.user));
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        const grant = credit.taken(chunk.length);
        if (grant > 0 && !finished && !conn.closed) ch.send(HostFrame.Credit, encodeCredit(grant));
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (finished) return;
      // Waiting on the agent, not on our consumer: this wait has a deadline.
      const dog = watchdog(options.deadlines.idleMs, () => {
        failure = new AgentTimeoutError(`the agent sent nothing of ${path} for ${options.deadlines.idleMs} ms`);
        notify();
      });
      await new Promise<void>((r) => (wake = r));
      dog.stop();
    }
  } finally {
    if (!finished && !conn.closed && !(failure instanceof AgentOpError)) {
      ch.send(HostFrame.Cancel);
      ch.abandon();
    }
  }
}

export function listDir(
  conn: AgentConnection,
  path: string,
  options: { user: string; maxEntries: number; deadlines: FileDeadlines; depth?: number },
): Promise<DirEntry[]> {
  return new Promise((resolve, reject) => {
    const entries: DirEntry[] = [];
    const stop = (err: Error) => {
      dog.stop();
      if (!conn.closed) ch.send(HostFrame.Cancel);
      ch.abandon();
      reject(err);
    };
    const dog = watchdog(options.deadlines.idleMs, () => stop(new AgentTimeoutError(`the agent did not list ${path} within ${options.deadlines.idleMs} ms`)));
    const ch = conn.open('list', {
      frame: (f) => {
        dog.rearm();
        if (f.type === AgentFrame.DirEntries) {
          entries.push(...decodeDirEntries(f.payload));
          if (entries.length > options.maxEntries) stop(new AgentOpError(constants.errno.E2BIG, `the directory has more than ${options.maxEntries} entries`));
        } else if (f.type === AgentFrame.DirEnd) {
          dog.stop();
          resolve(entries);
        } else {
          dog.stop();
          const { errno, message } = decodeError(f.payload);
          reject(new AgentOpError(errno, message));
        }
      },
      closed: (err) => {
        dog.stop();
        reject(err);
      },
    });
    ch.send(HostFrame.ListDir, encodePath(path, options.user, options.depth));
  });
}
