/**
 * @module auth
 * Bearer-key authentication for every route but health and the OpenAPI document.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { MiddlewareHandler } from 'hono';
import { verifyKey } from '../auth/api-keys.js';
import { AirlockError } from '../errors.js';
import type { KeyStore } from '../store/store.js';

const PUBLIC_PATHS = new Set(['/v1/health', '/v1/openapi.json']);

export function requireApiKey(keys: KeyStore): MiddlewareHandler {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new AirlockError(ErrorCode.Unauthenticated, 'missing API key: send Authorization: Bearer <key>');
    if (!(await verifyKey(keys, m[1]!))) throw new AirlockError(ErrorCode.Unauthenticated, 'the API key is not valid');
    return next();
  };
}
