/**
 * @module error-status
 * The one mapping from error codes to HTTP statuses. The Record type makes the compiler refuse a
 * code without a status.
 */
import type { ErrorCode } from '@airlock/protocol/errors';

export const ERROR_STATUS: Record<ErrorCode, 400 | 401 | 403 | 404 | 405 | 409 | 410 | 413 | 415 | 422 | 429 | 500 | 502 | 504 | 507> = {
  invalid_request: 400,
  unauthenticated: 401,
  permission_denied: 403,
  quota_exceeded: 429,
  quota_limit: 403,
  rate_limited: 429,
  not_found: 404,
  invalid_state: 409,
  exec_failed: 422,
  file_error: 422,
  runtime_unavailable: 422,
  image_not_found: 422,
  registry_unavailable: 502,
  registry_denied: 403,
  image_invalid: 422,
  storage_full: 507,
  payload_too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  agent_unresponsive: 504,
  offset_gone: 410,
  capacity: 429,
  runtime_error: 502,
  build_failed: 422,
  internal: 500,
};
