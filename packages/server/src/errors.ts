/**
 * @module errors
 * Domain errors carry a code from the protocol's closed set. Domain code throws them; the API layer
 * maps the code to HTTP in one place. Anything else that escapes is a bug and becomes `internal`.
 */
import { ErrorCode, type ErrorCode as Code } from '@airlock/protocol/errors';

export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown; issues?: { path: string; message: string }[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.issues) this.issues = options.issues;
  }
  issues?: { path: string; message: string }[];
}

export const notFound = (what: string) => new AirlockError(ErrorCode.NotFound, `${what} does not exist`);
export const invalidRequest = (message: string) => new AirlockError(ErrorCode.InvalidRequest, message);
export const invalidState = (message: string) => new AirlockError(ErrorCode.InvalidState, message);
export const runtimeError = (message: string, cause?: unknown) => new AirlockError(ErrorCode.RuntimeError, message, { cause });

/** An impossible internal condition: a bug, never a user error. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}
