/**
 * @module step-cache
 * The build's step cache: a step's key is chained from its parent's key (which starts at the base
 * image's id, so every ENV, ARG value, USER or WORKDIR before a step is part of it), the
 * instruction's text after variable substitution, and the digests of its inputs (the files COPY
 * takes, the stage or image it copies from). A hit names the layer the step made last time; it
 * counts only while that layer and its blob are still in the store (prune may have removed them).
 *
 * One small JSON file per key under `<images>/build-cache/`, written by rename: a crash leaves
 * either the old entry or the new one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_PROJECT } from '../../store/store.js';

export const CachedLayer = z.object({
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  mediaType: z.string(),
  size: z.number().int().nonnegative(),
  diffId: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  chainId: z.string().regex(/^sha256:[a-f0-9]{64}$/),
});
export type CachedLayer = z.infer<typeof CachedLayer>;

export class StepCache {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The layer cached under `key`, if it and its blob still exist (`present` checks that). */
  get(key: string, present: (l: CachedLayer) => boolean): CachedLayer | undefined {
    let raw: string;
    try {
      raw = readFileSync(this.#path(key), 'utf8');
    } catch {
      return undefined;
    }
    const parsed = CachedLayer.safeParse(safeJson(raw));
    if (parsed.success && present(parsed.data)) return parsed.data;
    rmSync(this.#path(key), { force: true });
    return undefined;
  }

  put(key: string, layer: CachedLayer): void {
    const tmp = join(this.#dir, `.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(tmp, JSON.stringify(layer), { mode: 0o600 });
    renameSync(tmp, this.#path(key));
  }

  #path(key: string): string {
    if (!/^[a-f0-9]{64}$/.test(key)) throw new Error(`not a cache key: ${key}`);
    return join(this.#dir, `${key}.json`);
  }
}

/**
 * The key a step is looked up under: its chain key scoped by the project, so one project never
 * takes another's layer (a RUN's output may hold what it fetched at build time). The layers stay
 * shared, content-addressed blobs; only the lookup is per project. The `default` project keeps the
 * bare chain key, so its existing entries still hit.
 */
export function projectCacheKey(project: string | undefined, key: string): string {
  return project === undefined || project === DEFAULT_PROJECT ? key : chainKey('project', project, key);
}

/** The next key in a stage's chain. */
export function chainKey(previous: string, ...parts: unknown[]): string {
  return createHash('sha256')
    .update(JSON.stringify([previous, ...parts]))
    .digest('hex');
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
