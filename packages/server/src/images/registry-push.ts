/**
 * @module registry-push
 * Pushes a local image to a registry with the distribution API: for each blob (config, layers) a
 * HEAD first (a blob the repository has is skipped), else a cross-repository mount from another
 * repository of the same registry that holds the image (no bytes sent), else an upload,
 * monolithic for small blobs and in chunks (PATCH with Content-Range) for large ones; then the
 * manifest PUT, whose digest the registry must confirm. Authentication, credentials and plain
 * HTTP follow the registry client's rules (a token with push scope).
 */
import { createReadStream } from 'node:fs';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ImageRecord } from '../store/store.js';
import type { ContentStore } from './content-store.js';
import { Manifest, MediaType, parseImageDocument } from './manifest.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';

export type PushAction = 'exists' | 'mounted' | 'uploaded';

export interface PushOptions {
  /** Blobs up to this size go in one request; larger ones in chunks of this size. */
  chunkBytes?: number;
  onBlob?: (digest: string, size: number, action: PushAction) => void;
}

const DEFAULT_CHUNK = 32 * 1024 * 1024;
const TIMEOUT_MS = 120_000;

export async function pushImage(
  registry: RegistryClient,
  content: ContentStore,
  image: ImageRecord,
  references: string[],
  target: string,
  opts: PushOptions = {},
): Promise<{ reference: string; digest: string }> {
  const ref = parseReference(target);
  if (ref.digest !== undefined) throw new AirlockError(ErrorCode.InvalidRequest, `push to ${target}: name a tag to push to, not a digest`);
  const manifestBytes = content.read(image.id);
  const manifest = parseImageDocument(Manifest, manifestBytes, `manifest ${image.id}`);
  const scopes = [`repository:${ref.repository}:pull,push`];
  // Other repositories of this registry known to hold the image: sources for a cross-repo mount.
  const mountFrom = [
    ...new Set(
      references
        .map(safeParse)
        .filter((r): r is ImageReference => r?.registry === ref.registry && r.repository !== ref.repository)
        .map((r) => r.repository),
    ),
  ];
  const allScopes = [...scopes, ...mountFrom.map((r) => `repository:${r}:pull`)];
  for (const blob of [manifest.config, ...manifest.layers]) {
    const action = await pushBlob(registry, content, ref, blob.digest, blob.size, allScopes, mountFrom[0], opts.chunkBytes ?? DEFAULT_CHUNK);
    opts.onBlob?.(blob.digest, blob.size, action);
  }
  const mediaType = manifest.mediaType ?? MediaType.OciManifest;
  const res = await registry.send(ref, 'PUT', `manifests/${ref.tag ?? 'latest'}`, {
    scopes: allScopes,
    headers: { 'content-type': mediaType },
    body: manifestBytes,
    contentLength: manifestBytes.length,
    timeoutMs: TIMEOUT_MS,
  });
  await expect(registry, ref, res, [201], 'the manifest upload');
  const confirmed = res.headers.get('docker-content-digest');
  if (confirmed && confirmed !== image.id)
    throw new AirlockError(ErrorCode.RegistryUnavailable, `registry ${ref.registry} stored the manifest as ${confirmed}, not ${image.id}`);
  return { reference: formatReference(ref), digest: image.id };
}

async function pushBlob(
  registry: RegistryClient,
  content: ContentStore,
  ref: ImageReference,
  digest: string,
  size: number,
  scopes: string[],
  mountFrom: string | undefined,
  chunk: number,
): Promise<PushAction> {
  const head = await registry.send(ref, 'HEAD', `blobs/${digest}`, { scopes, timeoutMs: TIMEOUT_MS });
  await head.body?.cancel();
  if (head.status === 200) return 'exists';
  if (head.status !== 404) throw registry.statusError(ref, `blobs/${digest}`, head.status);
  const query = mountFrom ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : '';
  const start = await registry.send(ref, 'POST', `blobs/uploads/${query}`, { scopes, timeoutMs: TIMEOUT_MS, contentLength: 0 });
  await start.body?.cancel();
  if (start.status === 201 && mountFrom) return 'mounted';
  await expect(registry, ref, start, [202], 'starting a blob upload');
  let location = absolute(ref, registry, start.headers.get('location'));
  if (!content.has(digest)) throw new AirlockError(ErrorCode.ImageInvalid, `blob ${digest} of the image is missing from the local store`);
  if (size <= chunk) {
    const put = await registry.send(ref, 'PUT', withDigest(location, digest), {
      scopes,
      headers: { 'content-type': 'application/octet-stream' },
      body: createReadStream(content.path(digest)),
      contentLength: size,
      timeoutMs: TIMEOUT_MS,
    });
    await expect(registry, ref, put, [201], `uploading blob ${digest}`);
    return 'uploaded';
  }
  for (let offset = 0; offset < size; offset += chunk) {
    const end = Math.min(size, offset + chunk) - 1;
    const patch = await registry.send(ref, 'PATCH', location, {
      scopes,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}` },
      body: createReadStream(content.path(digest), { start: offset, end }),
      contentLength: end - offset + 1,
      timeoutMs: TIMEOUT_MS,
    });
    await expect(registry, ref, patch, [202], `uploading bytes ${offset}-${end} of blob ${digest}`);
    location = absolute(ref, registry, patch.headers.get('location'));
  }
  const done = await registry.send(ref, 'PUT', withDigest(location, digest), { scopes, timeoutMs: TIMEOUT_MS, contentLength: 0 });
  await expect(registry, ref, done, [201], `completing blob ${digest}`);
  return 'uploaded';
}

async function expect(registry: RegistryClient, ref: ImageReference, res: Response, ok: number[], what: string): Promise<void> {
  if (ok.includes(res.status)) {
    await res.body?.cancel();
    return;
  }
  const text = (await res.text().catch(() => '')).slice(0, 300);
  if (res.status === 401 || res.status === 403)
    throw new AirlockError(
      ErrorCode.RegistryDenied,
      `registry ${ref.registry} refused ${what} to ${ref.repository} (HTTP ${res.status}); check the credentials configured for it`,
    );
  if (res.status === 404) throw registry.statusError(ref, what, res.status);
  throw new AirlockError(ErrorCode.RegistryUnavailable, `registry ${ref.registry} answered HTTP ${res.status} to ${what}${text ? `: ${text}` : ''}`);
}

function absolute(ref: ImageReference, registry: RegistryClient, location: string | null): string {
  if (!location) throw new AirlockError(ErrorCode.RegistryUnavailable, `registry ${ref.registry} started an upload without a Location`);
  return new URL(location, registry.baseUrl(ref.registry)).toString();
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

function safeParse(r: string): ImageReference | undefined {
  try {
    return parseReference(r);
  } catch {
    return undefined;
  }
}
