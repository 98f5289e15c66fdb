/**
 * @module build-service
 * Image builds as the API asks for them: the context is received and the Dockerfile parsed first
 * (so a context over the limit is a 413 and a Dockerfile that does not parse a 400 with its line,
 * before any stream starts); then the build runs, its events go to one consumer, and it can be
 * cancelled by id or by its consumer going away. Every build has a private scratch directory for
 * its context, removed when it ends (and at start, for a crash).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { parseEntry } from '../../network/policy.js';
import { AirlockError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ImageRecord } from '../../store/store.js';
import { formatReference, parseReference } from '../reference.js';
import { receiveContext, type BuildContext, type ContextLimits } from './build-context.js';
import type { BuildEvent, BuildSettings, Builder } from './builder.js';
import { DockerfileError, parseDockerfile } from './dockerfile.js';

export interface BuildParams extends BuildSettings {
  dockerfile: string;
  timeoutSeconds?: number | undefined;
}

export interface PreparedBuild {
  id: string;
  /** Runs the build; resolves with the image. Cancelling (by id or `signal`) rejects with `build_failed`. */
  run(onEvent: (e: BuildEvent) => void | Promise<void>, signal?: AbortSignal): Promise<ImageRecord>;
  /** Drops a prepared build that will not run. */
  discard(): void;
}

export interface BuildServiceDeps {
  builder: Builder;
  scratchDir: string;
  limits: ContextLimits & { maxConcurrent: number };
  defaultTimeoutSeconds: number;
  /** Whether RUN steps can be given a network; until then a build that asks for one is refused. */
  networkPolicies: boolean;
  log: Logger;
}

export class BuildService {
  readonly #d: BuildServiceDeps;
  readonly #active = new Map<string, { abort: AbortController; done: Promise<unknown> }>();
  #preparing = 0;

  constructor(deps: BuildServiceDeps) {
    this.#d = deps;
    rmSync(deps.scratchDir, { recursive: true, force: true });
    mkdirSync(deps.scratchDir, { recursive: true, mode: 0o700 });
  }

  /** Validates the parameters, receives the context and parses the Dockerfile. */
  async prepare(body: Readable, p: BuildParams): Promise<PreparedBuild> {
    const tags = p.tags.map((t) => {
      try {
        return formatReference(parseReference(t));
      } catch (e) {
        throw new AirlockError(ErrorCode.InvalidRequest, `tag ${JSON.stringify(t)}: ${(e as Error).message}`);
      }
    });
    if (p.allow.length > 0 && !this.#d.networkPolicies) {
      throw new AirlockError(ErrorCode.InvalidRequest, `allow ${p.allow.join(', ')}: sandbox networks are off on this server; RUN steps run with no network`);
    }
    // Checked before anything is received: a bad entry would otherwise fail the first RUN.
    for (const entry of p.allow) {
      const rule = parseEntry(entry);
      if ('error' in rule) throw new AirlockError(ErrorCode.InvalidRequest, `allow ${JSON.stringify(entry)}: ${rule.error}`);
    }
    if (this.#active.size + this.#preparing >= this.#d.limits.maxConcurrent) {
      throw new AirlockError(ErrorCode.Capacity, `this server already runs its limit of ${this.#d.limits.maxConcurrent} builds; retry when one finished`);
    }
    const id = `build-${randomBytes(8).toString('hex')}`;
    const dir = join(this.#d.scratchDir, id);
    mkdirSync(dir, { mode: 0o700 });
    let context: BuildContext;
    this.#preparing++;
    try {
      context = await receiveContext(body, dir, p.dockerfile, this.#d.limits);
      parseDockerfile(context.dockerfile);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      if (e instanceof DockerfileError) throw new AirlockError(ErrorCode.InvalidRequest, e.message);
      throw e;
    } finally {
      this.#preparing--;
    }
    let started = false;
    return {
      id,
      discard: () => {
        if (!started) rmSync(dir, { recursive: true, force: true });
      },
      run: (onEvent, signal) => {
        started = true;
        const abort = new AbortController();
        signal?.addEventListener('abort', () => abort.abort(), { once: true });
        const done = this.#d.builder
          .build({
            context,
            tags,
            buildArgs: p.buildArgs,
            target: p.target,
            runtime: p.runtime,
            allow: p.allow,
            compression: p.compression,
            noCache: p.noCache,
            project: p.project,
            canUse: p.canUse,
            timeoutSeconds: p.timeoutSeconds ?? this.#d.defaultTimeoutSeconds,
            signal: abort.signal,
            onEvent,
          })
          .catch((e: unknown) => {
            if (abort.signal.aborted) throw new AirlockError(ErrorCode.BuildFailed, 'the build was cancelled');
            throw e;
          })
          .finally(() => {
            this.#active.delete(id);
            rmSync(dir, { recursive: true, force: true });
          });
        this.#active.set(id, { abort, done: done.catch(() => {}) });
        return done;
      },
    };
  }

  /** Cancels a running build; false when no build has that id. */
  cancel(id: string): boolean {
    const b = this.#active.get(id);
    if (!b) return false;
    this.#d.log.info({ build: id }, 'build cancelled');
    b.abort.abort();
    return true;
  }

  async close(): Promise<void> {
    for (const b of this.#active.values()) b.abort.abort();
    await Promise.all([...this.#active.values()].map((b) => b.done));
  }
}
