/**
 * @module processes
 * Wire schemas for a sandbox's processes: background starts, the registry, signals, stdin, PTY
 * resize, output replay by offset (NDJSON) and the WebSocket attach (its control frames and close
 * codes). Output offsets count the payload bytes of both streams together, in the order the server
 * received them (a terminal has one stream).
 */
import { z } from 'zod';
import { ExecRequest } from './exec.js';
import { ExitReasonSchema } from './exec.js';

export const PROCESS_STATES = ['starting', 'running', 'exited'] as const;
export type ProcessState = (typeof PROCESS_STATES)[number];

export const PtySize = z
  .object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) })
  .strict()
  .meta({ id: 'PtySize' });
export type PtySize = z.infer<typeof PtySize>;

export const StartProcessRequest = ExecRequest.omit({ maxOutputBytes: true, encoding: true })
  .extend({
    tag: z
      .string()
      .max(256)
      .refine((v) => !v.includes('\0'), 'tag must not contain NUL')
      .optional()
      .describe('A name of your own, for listing and finding it'),
    pty: PtySize.optional().describe('Run on a pseudo-terminal of this size (one merged output stream)'),
    keepStdin: z.boolean().optional().describe('Keep stdin open for later writes (default true; a PTY always has input)'),
  })
  .strict()
  .meta({ id: 'StartProcessRequest' });
export type StartProcessRequest = z.infer<typeof StartProcessRequest>;

export const ProcessInfo = z
  .object({
    id: z.string(),
    tag: z.string(),
    pid: z.number().int().describe('pid inside the sandbox'),
    command: z.string(),
    state: z.enum(PROCESS_STATES),
    pty: z.boolean(),
    size: PtySize.nullable(),
    /** Dies with its client: a plain exec that did not ask to survive it. */
    foreground: z.boolean(),
    exitCode: z.number().int().nullable(),
    signal: z.number().int().nullable(),
    reason: ExitReasonSchema.nullable(),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
    output: z
      .object({
        oldest: z.number().int().describe('Output offset of the oldest byte kept; above 0 the journal dropped older output'),
        head: z.number().int().describe('Output bytes so far'),
      })
      .describe('The output journal'),
  })
  .meta({ id: 'Process' });
export type ProcessInfo = z.infer<typeof ProcessInfo>;

export const ProcessList = z.object({ processes: z.array(ProcessInfo) }).meta({ id: 'ProcessList' });
export type ProcessList = z.infer<typeof ProcessList>;

export const ProcessParams = z.object({ id: z.string().min(1).max(128).describe('Sandbox id'), pid: z.string().min(1).max(64).describe('Process id') });

export const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGCONT: 18, SIGSTOP: 19, SIGWINCH: 28 } as const;

export const SignalRequest = z
  .object({
    signal: z.union([z.enum(Object.keys(SIGNALS) as [keyof typeof SIGNALS, ...(keyof typeof SIGNALS)[]]), z.number().int().min(1).max(64)]).default('SIGTERM'),
  })
  .strict()
  .meta({ id: 'SignalRequest' });

export const WaitQuery = z.object({
  timeout: z.coerce.number().min(0).max(3600).optional().describe('Seconds to wait at most (default 30); the answer may still say running'),
});

export const OutputQuery = z.object({
  offset: z.coerce.number().int().min(0).optional().describe('Output offset to replay from (default 0)'),
  follow: z.enum(['true', 'false']).optional().describe('After the replay, stream live output until the process ends (default true)'),
  gap: z
    .enum(['error', 'skip'])
    .optional()
    .describe('An offset that fell out of the journal: 410 offset_gone (error, default) or replay from the oldest kept byte after a gap event (skip)'),
});

export const ListProcessesQuery = z.object({ tag: z.string().max(256).optional() });

/** One line of GET …/processes/{pid}/output (application/x-ndjson). */
export const OutputEvent = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('stdout'), offset: z.number().int(), data: z.string().describe('base64') }),
    z.object({ type: z.literal('stderr'), offset: z.number().int(), data: z.string().describe('base64') }),
    z.object({ type: z.literal('gap'), from: z.number().int(), to: z.number().int() }),
    z.object({
      type: z.literal('exit'),
      exitCode: z.number().int().nullable(),
      signal: z.number().int().nullable(),
      reason: ExitReasonSchema,
      offset: z.number().int(),
    }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ])
  .meta({ id: 'ProcessOutputEvent' });
export type OutputEvent = z.infer<typeof OutputEvent>;

export const AttachTicket = z
  .object({ ticket: z.string(), expiresAt: z.string(), url: z.string().describe('The attach URL with the ticket; open it as a WebSocket') })
  .meta({ id: 'AttachTicket' });
export type AttachTicket = z.infer<typeof AttachTicket>;

/**
 * WebSocket attach (GET …/processes/{pid}/attach, Upgrade: websocket). Binary frames from the server
 * are output: one byte naming the stream (0 stdout or the terminal, 1 stderr), then the bytes. Binary
 * frames from the client are stdin. Text frames are JSON control messages, below.
 */
export type AttachClientMessage =
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'signal'; signal: string | number }
  | { type: 'ack'; offset: number }
  | { type: 'close_stdin' }
  | { type: 'ping' };

export type AttachServerMessage =
  | { type: 'attached'; id: string; pid: number; pty: boolean; size: PtySize | null; offset: number }
  | { type: 'gap'; from: number; to: number }
  /** With snapshot=true on a terminal: the next binary frame is its screen, drawn up to `offset` (not output: offsets do not count it). */
  | { type: 'snapshot'; offset: number; bytes: number }
  | { type: 'exit'; exitCode: number | null; signal: number | null; reason: string; offset: number }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string };

export { ATTACH_LIMITS } from './attach-limits.js';

/** Close codes of the attach WebSocket: each reason has its own. */
export const ATTACH_CLOSE = {
  /** The process ended; its exit message came before. */
  exited: 4000,
  /** The process was forgotten, or the sandbox is gone. */
  gone: 4004,
  /** The sandbox stopped while attached. */
  sandboxStopped: 4009,
  /** The offset asked for fell out of the journal (with gap=error). */
  offsetGone: 4010,
  /** The client broke the attach protocol (a bad control message, a frame too large). */
  protocol: 4400,
  /** The key the attach was opened with was revoked or expired while attached. */
  unauthenticated: 4401,
  /** The server is shutting down. */
  serverClosing: 1001,
} as const;
