/**
 * @module errors
 * The closed set of error codes Airlock puts on the wire. The server maps each to an HTTP status in
 * exactly one place (server/src/api/error-status.ts); the SDK turns each back into a typed error.
 * This module has no dependencies so that the SDK can load it without pulling in schemas.
 */

export const ErrorCode = {
  /** The request body, query or path failed validation; the message names the field. */
  InvalidRequest: 'invalid_request',
  /** No or malformed credentials. */
  Unauthenticated: 'unauthenticated',
  /** The sandbox (or other resource) does not exist, or is not visible to this key. */
  NotFound: 'not_found',
  /** The key is valid but its role does not allow this (a `read` key calling a mutating route, a non-admin key on an admin route). */
  PermissionDenied: 'permission_denied',
  /** The project is at one of its quotas (429: retry once something is released); the message names the quota and its limit. */
  QuotaExceeded: 'quota_exceeded',
  /** The request alone is more than the project may ever have (403: retrying cannot help); the message names the quota and its limit. */
  QuotaLimit: 'quota_limit',
  /** The key sent more requests than its rate allows; the Retry-After header says when to try again. */
  RateLimited: 'rate_limited',
  /** The resource exists but is in a state that does not allow the operation (e.g. exec into a stopped sandbox). */
  InvalidState: 'invalid_state',
  /** The requested isolation runtime is not available on this server. */
  RuntimeUnavailable: 'runtime_unavailable',
  /** The requested image is unknown to this server. */
  ImageNotFound: 'image_not_found',
  /** The image registry could not be reached or failed; the message names the host. Retrying later may work. */
  RegistryUnavailable: 'registry_unavailable',
  /** The registry refused the credentials configured for it (or demanded some and none are configured). */
  RegistryDenied: 'registry_denied',
  /** An image's content is invalid: a digest mismatch, a truncated blob, an unsupported or malformed manifest or layer. */
  ImageInvalid: 'image_invalid',
  /** The image store or a sandbox's disk is full. */
  StorageFull: 'storage_full',
  /** A file operation inside the sandbox failed (missing path, permission, not a directory…). */
  FileError: 'file_error',
  /** The command could not be started inside the sandbox (missing binary, bad user or cwd…). */
  ExecFailed: 'exec_failed',
  /** A request or payload exceeds a server limit. */
  PayloadTooLarge: 'payload_too_large',
  /** The request body has a content type this route does not take; the message names the one it does. */
  UnsupportedMediaType: 'unsupported_media_type',
  /** The path exists but not with this method; the message lists the methods it has. */
  MethodNotAllowed: 'method_not_allowed',
  /** The sandbox's agent did not answer within its deadline; the sandbox may be overloaded or frozen, and can be destroyed. */
  AgentUnresponsive: 'agent_unresponsive',
  /** The process output asked for (by offset) is no longer kept in its journal; the message says where it now begins. */
  OffsetGone: 'offset_gone',
  /** The server is at a configured capacity limit. */
  Capacity: 'capacity',
  /** The sandbox's runtime failed while doing what was asked; the sandbox may have been cleaned up. */
  RuntimeError: 'runtime_error',
  /** A build step failed (a RUN exited non-zero, or the build was cancelled); the message says which step, its exit code and its last lines of output. */
  BuildFailed: 'build_failed',
  /** A bug or an unexpected failure; details are in the server log, never in the response. */
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);

/** The body of every non-2xx response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Present when validation failed: the path of each offending field. */
  issues?: { path: string; message: string }[];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
