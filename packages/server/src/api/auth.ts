/**
 * @module auth
 * Bearer-key authentication for every route but health and the OpenAPI document. A missing,
 * malformed, wrong, expired or revoked key is one answer (401), with no detail about which.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { MiddlewareHandler } from 'hono';
import type { Principals } from '../auth/principals.js';
import { AirlockError } from '../errors.js';
import { setPrincipal } from './principal.js';

export const PUBLIC_PATHS = new Set(['/v1/health', '/v1/openapi.json']);

export function bearerOf(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

export function requireApiKey(principals: Principals): MiddlewareHandler {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const bearer = bearerOf(c.req.header('authorization'));
    if (bearer === undefined) throw new AirlockError(ErrorCode.Unauthenticated, 'missing API key: send Authorization: Bearer <key>');
    const p = await principals.authenticate(bearer);
    if (!p) throw new AirlockError(ErrorCode.Unauthenticated, 'the API key is not valid');
    setPrincipal(c, p);
    return next();
  };
}
