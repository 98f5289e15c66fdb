/**
 * @module error-response
 * Turns anything thrown in a handler into `{code, message}` with the mapped status. Unknown errors
 * are logged with their stack and answered as `internal` without details.
 */
import type { ErrorBody } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { ERROR_STATUS } from './error-status.js';

export function errorResponse(c: Context, err: unknown, log: Logger): Response {
  let body: ErrorBody;
  if (err instanceof AirlockError) {
    body = { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) };
    if (err.retryAfterSeconds !== undefined) c.header('retry-after', String(err.retryAfterSeconds));
    if (err.code === ErrorCode.RuntimeError || err.code === ErrorCode.Internal) log.error({ err }, 'request failed');
  } else if (err instanceof HTTPException && err.status === 413) {
    body = { code: ErrorCode.PayloadTooLarge, message: 'request body is larger than this server accepts' };
  } else if (err instanceof HTTPException && err.status < 500) {
    // Hono's own validators: malformed JSON and the like.
    body = { code: ErrorCode.InvalidRequest, message: err.message || 'malformed request' };
  } else {
    log.error({ err }, 'unhandled error');
    body = { code: ErrorCode.Internal, message: 'internal error; the server log has the details' };
  }
  return c.json(body, ERROR_STATUS[body.code]);
}
