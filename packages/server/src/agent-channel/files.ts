/**
 * @module files
 * File operations performed by the agent inside the sandbox. The host never resolves a sandbox path.
 */
import {
  AgentFrame,
  HostFrame,
  decodeDirEntries,
  decodeError,
  decodeOk,
  encodeCredit,
  encodeFileWrite,
  encodePath,
  type DirEntry,
} from '@airlock/agent';
import { AgentOpError, type AgentConnection } from './agent-connection.js';
import { CreditLedger } from './credit.js';

const CHUNK = 64 * 1024;
const MAX_LIST_ENTRIES = 100_000;

export async function writeFile(
  conn: AgentConnection,
  path: string,
  data: AsyncIterable<Uint8Array> | Uint8Array,
  options: { mode: number; user: string; mkdirParents: boolean },
): Promise<number> {
  let settle!: { resolve(n: number): void; reject(e: Error): void };
  const done = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
  const ch = conn.open({
    frame: (f) => {
      if (f.type === AgentFrame.Ok) {
        ch.release();
        settle.resolve(decodeOk(f.payload).bytes);
      } else if (f.type === AgentFrame.Error) {
        ch.release();
        const { errno, message } = decodeError(f.payload);
        settle.reject(new AgentOpError(errno, message));
      }
    },
    closed: (err) => settle.reject(err),
  });
  let failed = false;
  done.catch(() => (failed = true));
  try {
    ch.send(HostFrame.FileWrite, encodeFileWrite(path, options.mode, options.mkdirParents, options.user));
    const chunks = data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) {
      for (let off = 0; off < chunk.length; off += CHUNK) {
        if (failed) return await done;
        if (!ch.send(HostFrame.FileData, chunk.subarray(off, off + CHUNK))) await conn.drained();
      }
    }
    if (!failed) ch.send(HostFrame.FileEnd);
  } catch (e) {
    // The upload failed on our side (client went away): tell the agent to drop the partial file.
    if (!conn.closed && !failed) ch.send(HostFrame.Cancel);
    ch.release();
    throw e;
  }
  return done;
}

/**
 * Streams a file out of the sandbox, read with the rights of `user` (empty: root). The agent may run
 * INITIAL_CREDIT bytes ahead; each chunk the consumer takes is granted back, so a slow download
 * holds only this read.
 */
export async function* readFile(conn: AgentConnection, path: string, user = ''): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  const credit = new CreditLedger();
  let finished = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const ch = conn.open({
    frame: (f) => {
      if (f.type === AgentFrame.FileData) {
        queue.push(f.payload);
        const overrun = credit.received(f.payload.length);
        if (overrun) conn.fail(overrun);
      } else if (f.type === AgentFrame.FileEnd) {
        finished = true;
        ch.release();
      } else if (f.type === AgentFrame.Error) {
        const { errno, message } = decodeError(f.payload);
        failure = new AgentOpError(errno, message);
        ch.release();
      }
      notify();
    },
    closed: (err) => {
      failure = err;
      notify();
    },
  });
  ch.send(HostFrame.FileRead, encodePath(path, user));
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
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    if (!finished && !failure && !conn.closed) {
      ch.send(HostFrame.Cancel);
      ch.release();
    }
  }
}

/** Lists a directory with the rights of `user` (empty: root). */
export function listDir(conn: AgentConnection, path: string, user = ''): Promise<DirEntry[]> {
  return new Promise((resolve, reject) => {
    const entries: DirEntry[] = [];
    const ch = conn.open({
      frame: (f) => {
        if (f.type === AgentFrame.DirEntries) {
          entries.push(...decodeDirEntries(f.payload));
          if (entries.length > MAX_LIST_ENTRIES) {
            ch.release();
            reject(new AgentOpError(7, `directory has more than ${MAX_LIST_ENTRIES} entries`));
          }
        } else if (f.type === AgentFrame.DirEnd) {
          ch.release();
          resolve(entries);
        } else if (f.type === AgentFrame.Error) {
          ch.release();
          const { errno, message } = decodeError(f.payload);
          reject(new AgentOpError(errno, message));
        }
      },
      closed: reject,
    });
    ch.send(HostFrame.ListDir, encodePath(path, user));
  });
}
