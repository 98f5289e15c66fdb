/**
 * @module exec-request
 * Pure builders for the exec request body, kept apart from I/O so they are unit-tested alone.
 */
import type { ExecRequest } from '@airlock/protocol';
import { encodeBase64, type ExecStreamCallbacks } from './exec-stream.js';

export interface SandboxExecParams {
  /** Added to the sandbox's environment for this command. */
  env?: Record<string, string>;
  /** Absolute working directory. */
  cwd?: string;
  /** A name, uid or uid:gid. Default: `user` (uid 1000) in the default image. */
  user?: string;
  /** Written to the command's stdin, which is then closed. Bytes are sent base64-encoded. */
  stdin?: string | Uint8Array;
  /** Seconds; the command's process group is killed after it (reason `timeout`). */
  timeout?: number;
  /** Aborts the request; for a stream, closing the connection kills the command. */
  signal?: AbortSignal;
}

export interface SandboxExecBufferedParams extends SandboxExecParams {
  /** Cap per stream (default 1 MiB on the server); the rest is dropped and flagged. */
  maxOutputBytes?: number;
  /** How `stdout`/`stderr` come back: `utf8` (default) or `base64` for binary output. */
  encoding?: 'utf8' | 'base64';
}

export interface SandboxExecStreamParams extends SandboxExecParams, ExecStreamCallbacks {}

/** `cmd` as an array runs directly (argv); a string runs under `/bin/sh -c`. */
export type Command = string | readonly string[];

/** `cmd` null: the image's own Entrypoint + Cmd. */
export function buildExecRequest(cmd: Command | null, params: SandboxExecBufferedParams = {}): ExecRequest {
  const body: ExecRequest = cmd === null ? {} : { cmd: typeof cmd === 'string' ? cmd : [...cmd] };
  if (params.env !== undefined) body.env = params.env;
  if (params.cwd !== undefined) body.cwd = params.cwd;
  if (params.user !== undefined) body.user = params.user;
  if (typeof params.stdin === 'string') {
    body.stdin = params.stdin;
  } else if (params.stdin !== undefined) {
    body.stdin = encodeBase64(params.stdin);
    body.stdinEncoding = 'base64';
  }
  if (params.timeout !== undefined) body.timeout = params.timeout;
  if (params.maxOutputBytes !== undefined) body.maxOutputBytes = params.maxOutputBytes;
  if (params.encoding !== undefined) body.encoding = params.encoding;
  return body;
}
