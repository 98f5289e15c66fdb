/**
 * @module exec
 * Wire schemas for running commands in a sandbox: the buffered call and the NDJSON event stream.
 */
import { z } from 'zod';
import { EnvMap } from './sandbox.js';
import { EXIT_REASONS } from './states.js';

export const EXEC_LIMITS = {
  maxArgs: 4096,
  maxArgBytes: 128 * 1024,
  maxStdinBytes: 8 * 1024 * 1024,
  maxTimeoutSeconds: 24 * 3600,
  defaultMaxOutputBytes: 1024 * 1024,
  maxOutputBytes: 16 * 1024 * 1024,
} as const;

const NoNul = (what: string) => z.string().refine((v) => !v.includes('\0'), `${what} must not contain NUL`);

export const ExecRequest = z
  .object({
    cmd: z
      .union([
        z.array(NoNul('arguments').max(EXEC_LIMITS.maxArgBytes)).min(1).max(EXEC_LIMITS.maxArgs),
        NoNul('the command').min(1).max(EXEC_LIMITS.maxArgBytes),
      ])
      .optional()
      .describe("argv as an array (run directly), or a string run by /bin/sh -c; omitted: the image's Entrypoint + Cmd"),
    env: EnvMap.optional().describe('Added to the sandbox environment for this command'),
    cwd: NoNul('cwd').startsWith('/', 'cwd must be an absolute path').max(4096).optional(),
    user: z
      .string()
      .regex(/^([a-z_][a-z0-9_-]{0,31}|\d{1,10}(:\d{1,10})?)$/, 'user is a name, a uid, or uid:gid')
      .optional()
      .describe('Defaults to "user" (uid 1000) in the default image, root otherwise'),
    stdin: z
      .string()
      .max(EXEC_LIMITS.maxStdinBytes * 2)
      .optional()
      .describe('Bytes written to stdin, then stdin is closed'),
    stdinEncoding: z.enum(['utf8', 'base64']).optional(),
    timeout: z.number().positive().max(EXEC_LIMITS.maxTimeoutSeconds).optional().describe('Seconds; the process group is killed after it'),
    maxOutputBytes: z
      .number()
      .int()
      .positive()
      .max(EXEC_LIMITS.maxOutputBytes)
      .optional()
      .describe('Buffered call only: cap per stream; output beyond it is dropped and flagged'),
    encoding: z.enum(['utf8', 'base64']).optional().describe('Buffered call only: how stdout/stderr are returned'),
    survive: z
      .boolean()
      .optional()
      .describe('Keep running when the client goes away (default false: it is killed); it can be attached to later by its process id'),
  })
  .strict()
  .meta({ id: 'ExecRequest' });
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExitReasonSchema = z.enum(EXIT_REASONS);

export const ExecResult = z
  .object({
    stdout: z.string(),
    stderr: z.string(),
    encoding: z.enum(['utf8', 'base64']),
    exitCode: z.number().int().nullable().describe('null when the process was killed by a signal'),
    signal: z.number().int().nullable(),
    reason: ExitReasonSchema,
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    durationMs: z.number(),
    detail: z.string().optional().describe('With reason sandbox_stopped: what stopped the sandbox (its timeout, a destroy, its agent breaking the protocol)'),
    processId: z.string().optional().describe('The process in the sandbox registry (its output stays attachable until it is forgotten)'),
  })
  .meta({ id: 'ExecResult' });
export type ExecResult = z.infer<typeof ExecResult>;

/** One line of the `application/x-ndjson` stream answered by POST /v1/sandboxes/{id}/exec/stream. */
export const ExecEvent = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('start'), pid: z.number().int(), processId: z.string().optional() }),
    z.object({ type: z.literal('stdout'), data: z.string().describe('base64') }),
    z.object({ type: z.literal('stderr'), data: z.string().describe('base64') }),
    z.object({
      type: z.literal('exit'),
      exitCode: z.number().int().nullable(),
      signal: z.number().int().nullable(),
      reason: ExitReasonSchema,
      durationMs: z.number(),
      detail: z.string().optional(),
    }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ])
  .meta({ id: 'ExecEvent' });
export type ExecEvent = z.infer<typeof ExecEvent>;
