/**
 * @module principal
 * Who is calling: the key's id and project, found from the bearer key the auth middleware already
 * accepted. Every observation route scopes what it serves by this project. Tenancy replaces this
 * one function (roles: admin / project / read); until it does, every key is an admin key of its
 * project (api-keys.ts), and `admin` means "may see server-wide series and every project's sandboxes".
 */
import type { Context } from 'hono';
import { ErrorCode } from '@airlock/protocol/errors';
import { hashKey } from '../auth/api-keys.js';
import { AirlockError } from '../errors.js';
import type { KeyStore } from '../store/store.js';

export interface Principal {
  keyId: string;
  project: string;
  admin: boolean;
}

const known = new WeakMap<Request, Principal | null>();

/** The caller of an authenticated request, once per request; undefined when it presented no valid key. */
export async function principalOf(c: Context, keys: KeyStore): Promise<Principal | undefined> {
  const cached = known.get(c.req.raw);
  if (cached !== undefined) return cached ?? undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  const record = m ? await keys.findByHash(hashKey(m[1]!)) : undefined;
  const p = record ? { keyId: record.id, project: record.project, admin: true } : null;
  known.set(c.req.raw, p);
  return p ?? undefined;
}

export async function requirePrincipal(c: Context, keys: KeyStore): Promise<Principal> {
  const p = await principalOf(c, keys);
  if (!p) throw new AirlockError(ErrorCode.Unauthenticated, 'the API key is not valid');
  return p;
}
