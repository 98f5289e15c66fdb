/**
 * @module projects
 * Projects and their keys: create, list, delete a project; set its quotas; issue, list, revoke and
 * rotate its keys. A revoked key's open streams and sessions end at once (auth/principals.ts).
 * `default` always exists (the first-start admin key and everything from before tenancy are in it)
 * and cannot be deleted; a project with sandboxes that hold host resources cannot be deleted either.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { mintKey } from '../auth/api-keys.js';
import type { Principals } from '../auth/principals.js';
import { AirlockError, notFound } from '../errors.js';
import type { SandboxService } from '../sandbox/service.js';
import { DEFAULT_PROJECT, type ApiKeyRecord, type KeyRole, type ProjectRecord, type Store } from '../store/store.js';
import { quotaExceeded, quotaLimit, type Overrides, type ProjectQuotas, type Quotas } from './quotas.js';

export interface ProjectView extends ProjectRecord {
  quotas: Quotas;
  usage: { sandboxes: number; cpu: number; memoryMiB: number; diskMiB: number; imageBytes: number; execs: number; pulls: number };
}

const MAX_PROJECTS = 10_000;
const MAX_KEYS_PER_PROJECT = 1000;

export class Projects {
  readonly #store: Store;
  readonly #quotas: ProjectQuotas;
  readonly #principals: Principals;
  #sandboxes: SandboxService | undefined;

  constructor(store: Store, quotas: ProjectQuotas, principals: Principals) {
    this.#store = store;
    this.#quotas = quotas;
    this.#principals = principals;
  }

  /** Loads every project's overrides into the quotas (at start, before admission counts). */
  async load(): Promise<void> {
    if (!(await this.#store.projects.get(DEFAULT_PROJECT)))
      await this.#store.projects.insert({ name: DEFAULT_PROJECT, createdAt: new Date().toISOString(), overrides: {} });
    for (const p of await this.#store.projects.list()) this.#quotas.setOverrides(p.name, p.overrides);
  }

  bind(sandboxes: SandboxService): void {
    this.#sandboxes = sandboxes;
  }

  async create(name: string, overrides: Overrides = {}): Promise<ProjectView> {
    if (await this.#store.projects.get(name)) throw new AirlockError(ErrorCode.InvalidState, `project ${name} already exists`);
    if ((await this.#store.projects.list()).length >= MAX_PROJECTS)
      throw new AirlockError(ErrorCode.Capacity, `this server holds its limit of ${MAX_PROJECTS} projects`);
    const record = { name, createdAt: new Date().toISOString(), overrides };
    await this.#store.projects.insert(record);
    this.#quotas.reopen(name);
    this.#quotas.setOverrides(name, overrides);
    return this.view(record);
  }

  async get(name: string): Promise<ProjectView> {
    const r = await this.#store.projects.get(name);
    if (!r) throw notFound(`project ${name}`);
    return this.view(r);
  }

  async exists(name: string): Promise<boolean> {
    return (await this.#store.projects.get(name)) !== undefined;
  }

  async list(): Promise<ProjectView[]> {
    return Promise.all((await this.#store.projects.list()).map((r) => this.view(r)));
  }

  async setQuotas(name: string, patch: Overrides): Promise<ProjectView> {
    const r = await this.#store.projects.get(name);
    if (!r) throw notFound(`project ${name}`);
    const overrides = { ...r.overrides, ...patch };
    await this.#store.projects.setOverrides(name, overrides);
    this.#quotas.setOverrides(name, overrides);
    return this.view({ ...r, overrides });
  }

  /** Deletes the project and revokes its keys (their streams end); refused while its sandboxes hold anything. */
  async delete(name: string): Promise<ProjectView> {
    if (name === DEFAULT_PROJECT) throw new AirlockError(ErrorCode.InvalidState, 'the default project cannot be deleted');
    const view = await this.get(name);
    // Closed and counted in one turn of the event loop: a create that reserved before is counted, one after is refused.
    this.#quotas.close(name);
    const held = this.#sandboxes?.usage(name).sandboxes ?? 0;
    if (held > 0) {
      this.#quotas.reopen(name);
      throw new AirlockError(ErrorCode.InvalidState, `project ${name} still has ${held} sandboxes: destroy them first`);
    }
    let keys: ApiKeyRecord[];
    try {
      keys = await this.#store.keys.list(name);
      await this.#store.projects.delete(name, new Date().toISOString());
    } catch (e) {
      this.#quotas.reopen(name);
      throw e;
    }
    for (const k of keys) this.#principals.revoked(k.id);
    this.#quotas.forget(name);
    return view;
  }

  async issueKey(
    project: string,
    opts: { name: string; role: KeyRole; expiresInSeconds?: number | undefined },
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    await this.get(project);
    if ((await this.#store.keys.list(project)).length >= MAX_KEYS_PER_PROJECT)
      throw new AirlockError(ErrorCode.Capacity, `project ${project} holds its limit of ${MAX_KEYS_PER_PROJECT} keys`);
    const expiresAt = opts.expiresInSeconds === undefined ? null : new Date(Date.now() + opts.expiresInSeconds * 1000).toISOString();
    const minted = mintKey(project, opts.role, opts.name, expiresAt);
    await this.#store.keys.insert(minted.record);
    return minted;
  }

  listKeys(project: string): Promise<ApiKeyRecord[]> {
    return this.#store.keys.list(project);
  }

  async getKey(id: string): Promise<ApiKeyRecord> {
    const k = await this.#store.keys.get(id);
    if (!k) throw notFound(`key ${id}`);
    return k;
  }

  /** Revokes at once: the key's next request is refused, and what it has open ends now. */
  async revokeKey(id: string): Promise<ApiKeyRecord> {
    const k = await this.getKey(id);
    const at = new Date().toISOString();
    await this.#store.keys.revoke(id, at);
    this.#principals.revoked(id);
    return { ...k, revokedAt: k.revokedAt ?? at };
  }

  /** A new key with the same project, role, name and lifetime left; the old one is revoked at once. */
  async rotateKey(id: string): Promise<{ key: string; record: ApiKeyRecord }> {
    const old = await this.getKey(id);
    if (old.revokedAt !== null) throw new AirlockError(ErrorCode.InvalidState, `key ${id} is revoked; issue a new one`);
    const minted = mintKey(old.project, old.role, old.name, old.expiresAt);
    await this.#store.keys.insert(minted.record);
    await this.revokeKey(id);
    return minted;
  }

  async imageBytes(project: string): Promise<number> {
    let bytes = 0;
    for (const id of await this.#store.grants.imagesOf(project)) {
      const img = await this.#store.images.get(id);
      if (img) bytes += img.size + img.unpackedBytes;
    }
    return bytes;
  }

  /** Before a pull, import or build: refused while the project's images already fill its quota. */
  async checkImageBytes(project: string): Promise<void> {
    const limit = this.#quotas.of(project).imageBytes;
    if (limit === null) return;
    const used = await this.imageBytes(project);
    if (limit === 0) throw quotaLimit(project, 'imageBytes', 0, 1);
    if (used >= limit) throw quotaExceeded(project, 'imageBytes', limit, used);
  }

  async view(r: ProjectRecord): Promise<ProjectView> {
    const held = this.#sandboxes?.usage(r.name) ?? { sandboxes: 0, cpu: 0, memoryMiB: 0, diskMiB: 0 };
    return { ...r, quotas: this.#quotas.of(r.name), usage: { ...held, imageBytes: await this.imageBytes(r.name), ...this.#quotas.inFlight(r.name) } };
  }
}
