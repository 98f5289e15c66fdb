/**
 * @module errors
 * Domain errors carry a code from the protocol's closed set. Domain code throws them; the API layer
 * maps the code to HTTP in one place. Anything else that escapes is a bug and becomes `internal`.
 */
import { constants } from 'node:os';
import { ErrorCode, type ErrorCode as Code } from '@airlock/protocol/errors';

export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown; issues?: { path: string; message: string }[]; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.issues) this.issues = options.issues;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
  issues?: { path: string; message: string }[];
  /** For rate_limited: the Retry-After the API sends. */
  retryAfterSeconds?: number;
}

export const notFound = (what: string) => new AirlockError(ErrorCode.NotFound, `${what} does not exist`);
export const invalidRequest = (message: string) => new AirlockError(ErrorCode.InvalidRequest, message);
export const invalidState = (message: string) => new AirlockError(ErrorCode.InvalidState, message);
export const runtimeError = (message: string, cause?: unknown) => new AirlockError(ErrorCode.RuntimeError, message, { cause });

/** An impossible internal condition: a bug, never a user error. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/**
 * Whether a host error means the disk or a quota is full. Matched by errno, not message: libuv names
 * ENOSPC but reports EDQUOT (a btrfs qgroup limit) as code UNKNOWN with errno -122.
 */
export function isStorageFull(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return err?.code === 'ENOSPC' || err?.code === 'EDQUOT' || err?.errno === -constants.errno.ENOSPC || err?.errno === -constants.errno.EDQUOT;
}
