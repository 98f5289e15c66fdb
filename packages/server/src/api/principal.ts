/**
 * @module principal
 * The key a request acts for, kept on the Hono context by the auth middleware (api/auth.ts).
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { Context } from 'hono';
import type { Principal } from '../auth/principals.js';
import { AirlockError } from '../errors.js';

const KEY = 'airlock.principal';

export function setPrincipal(c: Context, p: Principal): void {
  c.set(KEY as never, p as never);
}

/** The request's principal; every /v1 route but health and the OpenAPI document has one. */
export function principalOf(c: Context): Principal {
  const p = c.get(KEY as never) as Principal | undefined;
  if (!p) throw new AirlockError(ErrorCode.Unauthenticated, 'missing API key: send Authorization: Bearer <key>');
  return p;
}

/** Whether the principal may see and act on a resource of `project`: its own, or any for an admin key. */
export function sees(p: Principal, project: string): boolean {
  return p.role === 'admin' || p.project === project;
}

/** The principal if the request authenticated (the request log reads it after the answer went out). */
export function principalIfAny(c: Context): Principal | undefined {
  return c.get(KEY as never) as Principal | undefined;
}

/** What observation routes scope by: the caller's project, and whether it may see every project. */
export interface ObservationScope {
  keyId: string;
  project: string;
  admin: boolean;
}

export function scopeOf(p: Principal): ObservationScope {
  return { keyId: p.keyId, project: p.project, admin: p.role === 'admin' };
}
