/**
 * @module registry-client
 * The pull side of the OCI distribution API over fetch: manifests (by tag or digest, every digest
 * checked), blobs as streams, and authentication as registries ask for it: anonymous, the Bearer
 * token challenge (Docker Hub, GHCR, most others), and Basic credentials configured per registry
 * host. Credentials only ever travel to the registry's own origin and its token realm; they are
 * never logged or put into an error.
 *
 * Plain HTTP is used for loopback registries (as Docker does) and for hosts listed as insecure.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import { MANIFEST_ACCEPT, imageInvalid } from './manifest.js';
import { formatReference, isLoopbackRegistry, registryEndpoint, type ImageReference } from './reference.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistrySettings {
  /** Per registry host (as in references: `ghcr.io`, `docker.io`, `10.0.0.5:5000`). */
  auth: Record<string, RegistryCredentials>;
  /** Hosts reached over plain HTTP although not on loopback. */
  insecure: string[];
}

export interface FetchedManifest {
  digest: string;
  mediaType: string | undefined;
  bytes: Buffer;
  json: unknown;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MANIFEST_TIMEOUT_MS = 30_000;
/** A blob download fails when the registry sends nothing for this long. */
const BLOB_IDLE_MS = 60_000;

export class RegistryClient {
  readonly #settings: RegistrySettings;
  /** Bearer tokens by `registry|repository`. */
  readonly #tokens = new Map<string, string>();

  constructor(settings: RegistrySettings) {
    this.#settings = settings;
  }

  /** Fetches a manifest or index by the reference's digest (preferred) or tag, verifying a pinned digest. */
  async manifest(ref: ImageReference, selector = ref.digest ?? ref.tag ?? 'latest'): Promise<FetchedManifest> {
    const res = await this.#get(ref, `manifests/${selector}`, { accept: MANIFEST_ACCEPT, timeoutMs: MANIFEST_TIMEOUT_MS });
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_MANIFEST_BYTES)
      throw imageInvalid(`the manifest of ${formatReference(ref)} is ${length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_MANIFEST_BYTES) throw imageInvalid(`the manifest of ${formatReference(ref)} is over the ${MAX_MANIFEST_BYTES}-byte limit`);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (selector.startsWith('sha256:') && digest !== selector) {
      throw imageInvalid(`registry ${ref.registry} returned a manifest with digest ${digest} for ${selector}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw imageInvalid(`the manifest of ${formatReference(ref)} is not JSON`);
    }
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim() || undefined;
    const declared = typeof json === 'object' && json !== null && 'mediaType' in json ? String((json as { mediaType: unknown }).mediaType) : undefined;
    return { digest, mediaType: declared ?? mediaType, bytes, json };
  }

  /**
   * Opens a blob as a stream; the caller verifies the digest while storing it. `signal` cancels the
   * download (a sibling download of the same pull failed); a registry that sends no byte for
   * BLOB_IDLE_MS fails it, however large the blob is.
   */
  async blob(ref: ImageReference, digest: string, signal?: AbortSignal): Promise<Readable> {
    const cancel = new AbortController();
    const combined = signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal;
    const res = await this.#get(ref, `blobs/${digest}`, { timeoutMs: MANIFEST_TIMEOUT_MS, signal: combined });
    if (!res.body) throw imageInvalid(`registry ${ref.registry} sent an empty body for blob ${digest}`);
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    let idle = setTimeout(() => stall(), BLOB_IDLE_MS);
    const stall = () => {
      cancel.abort();
      body.destroy(
        new AirlockError(ErrorCode.RegistryUnavailable, `registry ${ref.registry} sent nothing of blob ${digest} for ${BLOB_IDLE_MS / 1000} s; retry the pull`),
      );
    };
    body.on('data', () => {
      clearTimeout(idle);
      idle = setTimeout(stall, BLOB_IDLE_MS);
    });
    body.on('close', () => clearTimeout(idle));
    return body;
  }

  async #get(ref: ImageReference, path: string, opts: { accept?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<Response> {
    const res = await this.send(ref, 'GET', path, { ...opts, scopes: [`repository:${ref.repository}:pull`] });
    if (res.ok) return res;
    await res.body?.cancel();
    throw this.statusError(ref, path, res.status);
  }

  /**
   * One request to the registry's API for `ref`'s repository (`path` relative to
   * /v2/<repository>/, or a full URL the registry gave, such as an upload location), answering a
   * 401 challenge once with a token for `scopes`. Any other status is the caller's to judge. A
   * body is sent only on the authenticated attempt, so make a bodiless request first (which
   * fetches the token) before one with a stream.
   */
  async send(
    ref: ImageReference,
    method: string,
    path: string,
    opts: {
      accept?: string;
      timeoutMs?: number;
      signal?: AbortSignal;
      scopes: string[];
      headers?: Record<string, string>;
      body?: Buffer | Readable;
      contentLength?: number;
    },
  ): Promise<Response> {
    const url = /^https?:\/\//.test(path) ? path : `${this.#baseUrl(ref.registry)}/v2/${ref.repository}/${path}`;
    if (new URL(url).host !== new URL(this.#baseUrl(ref.registry)).host) throw denied(ref, `it sent the client to another host (${new URL(url).host})`);
    const key = `${ref.registry}|${[...opts.scopes].sort().join(' ')}`;
    let auth = this.#tokens.get(key) ?? this.#basic(ref.registry);
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await this.#fetch(ref.registry, url, auth, { ...opts, method });
      if (res.status === 401 && attempt === 0 && opts.body === undefined) {
        await res.body?.cancel();
        auth = await this.#authenticate(ref, res.headers.get('www-authenticate') ?? '', opts.scopes);
        this.#tokens.set(key, auth);
        continue;
      }
      if (res.status === 401) {
        await res.body?.cancel();
        throw new AirlockError(
          ErrorCode.RegistryDenied,
          `registry ${ref.registry} refused access to ${ref.repository} after authentication; check the credentials configured for ${ref.registry}`,
        );
      }
      return res;
    }
    throw new Error('unreachable');
  }

  /** `timeoutMs` bounds the wait for the response headers (the body has its own idle deadline). */
  async #fetch(
    registry: string,
    url: string,
    auth: string | undefined,
    opts: {
      accept?: string;
      timeoutMs?: number;
      signal?: AbortSignal;
      method?: string;
      headers?: Record<string, string>;
      body?: Buffer | Readable;
      contentLength?: number;
    },
  ): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.accept) headers.accept = opts.accept;
    if (auth) headers.authorization = auth;
    if (opts.contentLength !== undefined) headers['content-length'] = String(opts.contentLength);
    const body = opts.body instanceof Readable ? Readable.toWeb(opts.body) : opts.body;
    const headersDue = new AbortController();
    const timer = opts.timeoutMs ? setTimeout(() => headersDue.abort(), opts.timeoutMs) : undefined;
    try {
      const signal = opts.signal ? AbortSignal.any([opts.signal, headersDue.signal]) : headersDue.signal;
      return await fetch(url, {
        method: opts.method ?? 'GET',
        headers,
        redirect: 'follow',
        signal,
        ...(body !== undefined ? { body, duplex: 'half' } : {}),
      } as RequestInit);
    } catch (e) {
      if (opts.signal?.aborted) throw new AirlockError(ErrorCode.RegistryUnavailable, `the download from registry ${registry} was cancelled`);
      if (headersDue.signal.aborted)
        throw new AirlockError(ErrorCode.RegistryUnavailable, `registry ${registry} did not answer within ${opts.timeoutMs} ms; retry later`);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new AirlockError(ErrorCode.RegistryUnavailable, `registry ${registry} is unreachable (${why}); check the host name and the network, then retry`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Answers a 401 challenge: a Bearer token from the realm (with Basic credentials if configured), or Basic. */
  async #authenticate(ref: ImageReference, challenge: string, scopes: string[]): Promise<string> {
    const scheme = challenge.split(' ')[0]?.toLowerCase();
    const creds = this.#settings.auth[ref.registry];
    if (scheme === 'basic') {
      if (!creds) throw denied(ref, 'it requires credentials and none are configured for this registry');
      return this.#basic(ref.registry)!;
    }
    if (scheme !== 'bearer') throw denied(ref, `it asks for an unsupported authentication scheme (${scheme || 'none'})`);
    const params = parseChallenge(challenge);
    if (!params.realm) throw denied(ref, 'its Bearer challenge has no realm');
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw denied(ref, 'its Bearer challenge names an invalid realm');
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.#plainHttpAllowed(realm.host))) {
      throw denied(ref, `its token realm ${realm.origin} is not HTTPS`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    // The scopes this request needs, and the one the challenge names if it is another.
    for (const scope of new Set([...scopes, ...(params.scope ? [params.scope] : [])])) realm.searchParams.append('scope', scope);
    const res = await this.#fetch(ref.registry, realm.toString(), this.#basic(ref.registry), { timeoutMs: MANIFEST_TIMEOUT_MS });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw denied(ref, creds ? 'the token service rejected the configured credentials' : 'the token service requires credentials and none are configured');
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new AirlockError(ErrorCode.RegistryUnavailable, `the token service of registry ${ref.registry} answered HTTP ${res.status}; retry later`);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw denied(ref, 'the token service answered without a token');
    return `Bearer ${token}`;
  }

  #basic(registry: string): string | undefined {
    const c = this.#settings.auth[registry];
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  #plainHttpAllowed(host: string): boolean {
    return isLoopbackRegistry(host) || this.#settings.insecure.includes(host);
  }

  /** `http(s)://host[:port]` of a registry's API. */
  baseUrl(registry: string): string {
    return this.#baseUrl(registry);
  }

  #baseUrl(registry: string): string {
    const endpoint = registryEndpoint(registry);
    return `${this.#plainHttpAllowed(registry) ? 'http' : 'https'}://${endpoint}`;
  }

  /** The error for a registry status that is not a success. */
  statusError(ref: ImageReference, path: string, status: number): AirlockError {
    const what = path.startsWith('manifests/')
      ? `image ${formatReference(ref)}`
      : path.startsWith('blobs/')
        ? `blob ${path.slice('blobs/'.length)} of ${ref.registry}/${ref.repository}`
        : `${path} of ${ref.registry}/${ref.repository}`;
    if (status === 404) return new AirlockError(ErrorCode.ImageNotFound, `${what} was not found in registry ${ref.registry} (check the name and tag)`);
    if (status === 401 || status === 403) return denied(ref, `it answered HTTP ${status}`);
    if (status === 429) return new AirlockError(ErrorCode.RegistryUnavailable, `registry ${ref.registry} is rate-limiting pulls (HTTP 429); retry later`);
    return new AirlockError(ErrorCode.RegistryUnavailable, `registry ${ref.registry} answered HTTP ${status} for ${what}; retry later`);
  }
}

function denied(ref: ImageReference, why: string): AirlockError {
  return new AirlockError(ErrorCode.RegistryDenied, `registry ${ref.registry} denied access to ${ref.repository}: ${why}`);
}

/** Parses `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  const rest = header.slice(header.indexOf(' ') + 1);
  for (const m of rest.matchAll(/([A-Za-z]+)="([^"]*)"/g)) out[m[1]!.toLowerCase()] = m[2]!;
  return out;
}
