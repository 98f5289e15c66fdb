/**
 * @module errors
 * One error base, `AirlockError`, whose `code` is drawn from the closed set in
 * `@airlock/protocol/errors`, and a few subclasses for the codes callers branch on.
 *
 * `instanceof` is keyed on `Symbol.for(...)` brands (as undici does), so it still works when two
 * copies of this package are loaded.
 */
import { ErrorCode, isErrorCode } from '@airlock/protocol/errors';

/** A code from the wire, or `connection` for a server that could not be reached. */
export type AirlockErrorCode = ErrorCode | 'connection';

export interface ErrorIssue {
  path: string;
  message: string;
}

export interface AirlockErrorOptions {
  /** The HTTP status of the answer, or undefined when the error did not come from one. */
  status?: number | undefined;
  issues?: ErrorIssue[] | undefined;
  cause?: unknown;
  /** `rate_limited`: the server's Retry-After, in seconds. */
  retryAfterSeconds?: number | undefined;
}

const kAirlockError = Symbol.for('airlock.error');

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

function brand(ctor: { prototype: object }, symbol: symbol): void {
  Object.defineProperty(ctor.prototype, symbol, { value: true });
}

export class AirlockError extends Error {
  readonly code: AirlockErrorCode;
  readonly status: number | undefined;
  readonly issues: ErrorIssue[] | undefined;
  /** Set for `rate_limited` (and any answer with Retry-After): seconds to wait before retrying. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: AirlockErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.status = options.status;
    this.issues = options.issues;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kAirlockError);
  }
}
brand(AirlockError, kAirlockError);

const kNotFound = Symbol.for('airlock.error.not_found');
/** `not_found`: no such sandbox, or no such path for a file read. */
export class NotFoundError extends AirlockError {
  constructor(message: string, options?: AirlockErrorOptions) {
    super(ErrorCode.NotFound, message, options);
    this.name = 'NotFoundError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kNotFound);
  }
}
brand(NotFoundError, kNotFound);

const kInvalidRequest = Symbol.for('airlock.error.invalid_request');
/** `invalid_request`: validation failed; `issues` names each field. */
export class InvalidRequestError extends AirlockError {
  constructor(message: string, options?: AirlockErrorOptions) {
    super(ErrorCode.InvalidRequest, message, options);
    this.name = 'InvalidRequestError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kInvalidRequest);
  }
}
brand(InvalidRequestError, kInvalidRequest);

const kInvalidState = Symbol.for('airlock.error.invalid_state');
/** `invalid_state`: e.g. exec into a sandbox that is not running. */
export class InvalidStateError extends AirlockError {
  constructor(message: string, options?: AirlockErrorOptions) {
    super(ErrorCode.InvalidState, message, options);
    this.name = 'InvalidStateError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kInvalidState);
  }
}
brand(InvalidStateError, kInvalidState);

const kExecFailed = Symbol.for('airlock.error.exec_failed');
/** `exec_failed`: the command could not be started (missing binary, unknown user, bad cwd). */
export class ExecFailedError extends AirlockError {
  constructor(message: string, options?: AirlockErrorOptions) {
    super(ErrorCode.ExecFailed, message, options);
    this.name = 'ExecFailedError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kExecFailed);
  }
}
brand(ExecFailedError, kExecFailed);

const kAuthentication = Symbol.for('airlock.error.unauthenticated');
/** `unauthenticated`: no key, or a wrong one. */
export class AuthenticationError extends AirlockError {
  constructor(message: string, options?: AirlockErrorOptions) {
    super(ErrorCode.Unauthenticated, message, options);
    this.name = 'AuthenticationError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kAuthentication);
  }
}
brand(AuthenticationError, kAuthentication);

const kConnection = Symbol.for('airlock.error.connection');
/** The server could not be reached, or the connection broke mid-answer. `status` is undefined. */
export class ConnectionError extends AirlockError {
  constructor(message: string, options?: AirlockErrorOptions) {
    super('connection', message, options);
    this.name = 'ConnectionError';
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kConnection);
  }
}
brand(ConnectionError, kConnection);

function parseIssues(value: unknown): ErrorIssue[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value
    .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null)
    .map((i) => ({ path: String(i['path'] ?? ''), message: String(i['message'] ?? '') }));
}

/**
 * Builds the typed error for a non-2xx answer (or an in-stream `error` event). An unknown or
 * missing code becomes a plain `AirlockError` with code `internal`.
 */
export function errorFromBody(status: number | undefined, body: unknown, retryAfterSeconds?: number): AirlockError {
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const message =
    typeof fields['message'] === 'string' && fields['message'] !== ''
      ? fields['message']
      : `the server answered ${status === undefined ? 'an error' : `HTTP ${status}`}`;
  const options: AirlockErrorOptions = { status, issues: parseIssues(fields['issues']), ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
  const code = fields['code'];
  if (!isErrorCode(code)) return new AirlockError(ErrorCode.Internal, message, options);
  switch (code) {
    case ErrorCode.NotFound:
      return new NotFoundError(message, options);
    case ErrorCode.InvalidRequest:
      return new InvalidRequestError(message, options);
    case ErrorCode.InvalidState:
      return new InvalidStateError(message, options);
    case ErrorCode.ExecFailed:
      return new ExecFailedError(message, options);
    case ErrorCode.Unauthenticated:
      return new AuthenticationError(message, options);
    default:
      return new AirlockError(code, message, options);
  }
}
