/**
 * @module principal
 * Who is calling: the key's id and project, found from the bearer key the auth middleware already
 * accepted. Every observation route scopes what it serves by this project. Tenancy replaces this
 * one function (roles: admin / project / read). Until it does, the admin keys are those of project
 * `default` (the only ones api-keys.ts makes), and a key of any other project sees only its own;
 * `admin` means "may see server-wide series and every project's sandboxes".
 */
import type { Context } from 'hono';
import { ErrorCode } from '@airlock/protocol/errors';
import { hashKey } from '../auth/api-keys.js';
import { AirlockError } from '../errors.js';
import { DEFAULT_PROJECT, type ApiKeyRecord, type KeyStore } from '../store/store.js';

export interface Principal {
  keyId: string;
  project: string;
  admin: boolean;
}

const known = new WeakMap<Request, Principal | null>();

/**
 * The key store as the auth middleware should use it: each key record it found is held until this
 * request's principal is read, so the caller is known without a second lookup. Nothing outlives the
 * request that looked it up (a revoked key is never served from here to a later request).
 */
export function rememberingKeys(keys: KeyStore): KeyStore & { take(hash: string): ApiKeyRecord | undefined } {
  const found = new Map<string, ApiKeyRecord[]>();
  return {
    insert: (r) => keys.insert(r),
    count: () => keys.count(),
    findByHash: async (hash) => {
      const r = await keys.findByHash(hash);
      if (r) {
        // Bounded: requests whose principal is never read leave their record; a full map starts over.
        if (found.size > 10_000) found.clear();
        found.set(hash, [...(found.get(hash) ?? []), r]);
      }
      return r;
    },
    take: (hash) => {
      const list = found.get(hash);
      const r = list?.shift();
      if (list?.length === 0) found.delete(hash);
      return r;
    },
  };
}

/** The caller of an authenticated request, once per request; undefined when it presented no valid key. */
export async function principalOf(c: Context, keys: KeyStore): Promise<Principal | undefined> {
  const cached = known.get(c.req.raw);
  if (cached !== undefined) return cached ?? undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  const hash = m ? hashKey(m[1]!) : undefined;
  const record = hash === undefined ? undefined : (('take' in keys ? (keys as ReturnType<typeof rememberingKeys>).take(hash) : undefined) ?? (await keys.findByHash(hash)));
  const p = record ? { keyId: record.id, project: record.project, admin: record.project === DEFAULT_PROJECT } : null;
  known.set(c.req.raw, p);
  return p ?? undefined;
}

export async function requirePrincipal(c: Context, keys: KeyStore): Promise<Principal> {
  const p = await principalOf(c, keys);
  if (!p) throw new AirlockError(ErrorCode.Unauthenticated, 'the API key is not valid');
  return p;
}
