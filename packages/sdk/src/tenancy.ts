/**
 * @module tenancy
 * Projects, keys and the audit log: `airlock.projects`, `airlock.keys`, `airlock.audit`. Project and
 * key management needs an admin key; any key reads its own project and its audit log.
 *
 * ```ts
 * const p = await airlock.projects.create('team-a', { quotas: { sandboxes: 20 } });
 * const { key } = await airlock.keys.create('team-a', { name: 'ci', role: 'project' }); // shown once
 * ```
 */
import type { ApiKeyInfo, AuditEvent, CreatedKey, KeyRole, Project, QuotaPatch } from '@airlock/protocol';
import type { HttpClient } from './http.js';

const seg = (s: string) => encodeURIComponent(s);

export class ProjectService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  create(name: string, params: { quotas?: QuotaPatch; signal?: AbortSignal } = {}): Promise<Project> {
    return this.#http.json<Project>('POST', '/v1/projects', { json: { name, ...(params.quotas ? { quotas: params.quotas } : {}) }, signal: params.signal });
  }

  async list(params: { signal?: AbortSignal } = {}): Promise<Project[]> {
    return (await this.#http.json<{ projects: Project[] }>('GET', '/v1/projects', { signal: params.signal })).projects;
  }

  get(name: string, params: { signal?: AbortSignal } = {}): Promise<Project> {
    return this.#http.json<Project>('GET', `/v1/projects/${seg(name)}`, { signal: params.signal });
  }

  /** Changes some quotas; `null` lifts one. The others keep their values. */
  setQuotas(name: string, quotas: QuotaPatch, params: { signal?: AbortSignal } = {}): Promise<Project> {
    return this.#http.json<Project>('PATCH', `/v1/projects/${seg(name)}/quotas`, { json: quotas, signal: params.signal });
  }

  /** Deletes the project and revokes its keys; refused while it has sandboxes. */
  delete(name: string, params: { signal?: AbortSignal } = {}): Promise<Project> {
    return this.#http.json<Project>('DELETE', `/v1/projects/${seg(name)}`, { signal: params.signal });
  }
}

export interface KeyCreateParams {
  name?: string;
  role?: KeyRole;
  /** Absent: the key never expires. */
  expiresInSeconds?: number;
  signal?: AbortSignal;
}

export class KeyService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** A new key for the project: `key` is in this answer and never again. */
  create(project: string, params: KeyCreateParams = {}): Promise<CreatedKey> {
    const { signal, ...body } = params;
    return this.#http.json<CreatedKey>('POST', `/v1/projects/${seg(project)}/keys`, { json: body, signal });
  }

  async list(project: string, params: { signal?: AbortSignal } = {}): Promise<ApiKeyInfo[]> {
    return (await this.#http.json<{ keys: ApiKeyInfo[] }>('GET', `/v1/projects/${seg(project)}/keys`, { signal: params.signal })).keys;
  }

  /** Revokes at once: the key's open streams and attach sessions end too. */
  revoke(keyId: string, params: { signal?: AbortSignal } = {}): Promise<ApiKeyInfo> {
    return this.#http.json<ApiKeyInfo>('DELETE', `/v1/keys/${seg(keyId)}`, { signal: params.signal });
  }

  /** A new key with the same project, role and name; the old one is revoked at once. */
  rotate(keyId: string, params: { signal?: AbortSignal } = {}): Promise<CreatedKey> {
    return this.#http.json<CreatedKey>('POST', `/v1/keys/${seg(keyId)}/rotate`, { signal: params.signal });
  }
}

export class AuditService {
  readonly #http: HttpClient;

  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** Newest first; page back with `before` (the smallest `seq` seen). `project`: admin keys only. */
  async list(params: { project?: string; before?: number; limit?: number; signal?: AbortSignal } = {}): Promise<AuditEvent[]> {
    const query = {
      project: params.project,
      before: params.before === undefined ? undefined : String(params.before),
      limit: params.limit === undefined ? undefined : String(params.limit),
    };
    return (await this.#http.json<{ events: AuditEvent[] }>('GET', '/v1/audit', { query, signal: params.signal })).events;
  }
}
