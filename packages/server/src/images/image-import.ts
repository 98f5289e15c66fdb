/**
 * @module image-import
 * Imports images for hosts without registry access, from a tar stream of either
 *   - an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), or
 *   - a `docker save` archive (`manifest.json` naming a config and layer tars by path).
 *
 * SECURITY: the archive is untrusted and may be huge. It is never unpacked on the host: one pass over
 * the tar stream puts every blob-like entry straight into the content store (hashed on the way; an
 * OCI layout's blobs must match their names), keeps the small JSON documents in memory (bounded),
 * and counts every byte against `maxBytes` (413 beyond it). Only then are the images installed from
 * the content store, through the same digest and DiffID checks as a pull. Whatever the archive left
 * in the store that no image references is collected, on success and on failure.
 */
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { extract } from 'tar-stream';
import { z } from 'zod';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError, isStorageFull } from '../errors.js';
import type { ImageRecord } from '../store/store.js';
import { BlobTooLargeError, DigestMismatchError, type ContentStore } from './content-store.js';
import type { ImageGc } from './gc.js';
import type { Installer } from './install.js';
import type { Lease, Leases } from './leases.js';
import { Index, MediaType, imageInvalid, isIndex, parseImageDocument, selectPlatform } from './manifest.js';
import { formatReference, parseReference, repositoryName } from './reference.js';

const DockerSaveManifest = z.array(z.object({ Config: z.string(), RepoTags: z.array(z.string()).nullish(), Layers: z.array(z.string()).min(1) }));

const REF_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name'];
/** JSON documents of an archive (index.json, manifest.json, configs) are kept in memory up to this. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
const MAX_ENTRIES = 100_000;

export interface ImportDeps {
  content: ContentStore;
  installer: Installer;
  gc: ImageGc;
  leases: Leases;
}

/** What one pass over the archive found: blobs stored by digest, paths to those digests, documents. */
interface Scanned {
  /** Archive path → digest of what the content store now holds for it. */
  stored: Map<string, string>;
  documents: Map<string, Buffer>;
}

/** Imports for `project`: the images are shared, their references (the tag, or the archive's names) the project's. */
export async function importImages(d: ImportDeps, archive: Readable, project: string, tag: string | undefined, maxBytes: number): Promise<ImageRecord[]> {
  const tagRef = tag === undefined ? undefined : normalise(tag);
  // Blobs are unreferenced until installed: a prune running meanwhile must not take them.
  const held: Lease[] = [];
  const added = new Set<string>();
  try {
    const scanned = await scan(d.content, archive, maxBytes, (digest) => {
      added.add(digest);
      held.push(d.leases.acquire([digest]));
    });
    if (scanned.documents.has('oci-layout') && scanned.documents.has('index.json')) return await importLayout(d, scanned, project, tagRef);
    if (scanned.documents.has('manifest.json')) return await importDockerSave(d, scanned, project, tagRef);
    throw imageInvalid('the archive is neither an OCI image layout (oci-layout + index.json) nor a docker save archive (manifest.json)');
  } finally {
    for (const l of held) l.release();
    // Blobs the archive carried that no image references (or all of them, if the import failed).
    await d.gc.collect(added, new Set());
  }
}

async function scan(content: ContentStore, archive: Readable, maxBytes: number, onStored: (digest: string) => void): Promise<Scanned> {
  const stored = new Map<string, string>();
  const documents = new Map<string, Buffer>();
  let total = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      if (total > maxBytes) return done(new AirlockError(ErrorCode.PayloadTooLarge, `image archives are limited to ${maxBytes} bytes on this server`));
      done(null, chunk);
    },
  });
  const parser = extract();
  const feeding = pipeline(archive, meter, parser).catch((e: unknown) => parser.destroy(e as Error));
  let entries = 0;
  try {
    for await (const entry of parser) {
      if (++entries > MAX_ENTRIES) throw imageInvalid(`the archive has more than ${MAX_ENTRIES} entries`);
      const path = posix
        .normalize(entry.header.name)
        .replace(/^(\.\/)+|^\/+/, '')
        .replace(/\/+$/, '');
      if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      if (path.endsWith('.json') || path === 'oci-layout' || path.endsWith('/json')) {
        documents.set(path, await readBounded(entry as unknown as AsyncIterable<Buffer>, MAX_DOCUMENT_BYTES, path));
        continue;
      }
      const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
      const { digest } = await content.ingestUnnamed(entry as unknown as Readable, maxBytes);
      onStored(digest);
      if (blob && digest !== `sha256:${blob[1]}`) throw imageInvalid(`blob ${path} in the layout has digest ${digest}`);
      stored.set(path, digest);
    }
  } catch (e) {
    archive.destroy();
    throw mapScanError(e);
  }
  await feeding;
  return { stored, documents };
}

async function readBounded(entry: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of entry) {
    n += c.length;
    if (n > max) throw imageInvalid(`${what} is over ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

async function importLayout(d: ImportDeps, s: Scanned, project: string, tag: string | undefined): Promise<ImageRecord[]> {
  const source = { open: async (digest: string) => createReadStream(d.content.path(digest)) as Readable };
  const index = parseImageDocument(Index, s.documents.get('index.json')!, 'index.json');
  const blob = (digest: string): Buffer => {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw imageInvalid(`${digest} is not a sha256 digest`);
    if (!d.content.has(digest)) throw imageInvalid(`the layout lacks blob ${digest}`);
    return d.content.read(digest);
  };
  const out: ImageRecord[] = [];
  for (const desc of index.manifests) {
    let digest = desc.digest;
    let bytes = blob(digest);
    if (isIndex(desc.mediaType, JSON.parse(bytes.toString('utf8')))) {
      const { chosen, offered } = selectPlatform(parseImageDocument(Index, bytes, `index ${digest}`));
      if (!chosen) throw imageInvalid(`index ${digest} has no variant for this host (it offers ${offered.join(', ') || 'none'})`);
      digest = chosen.digest;
      bytes = blob(digest);
    }
    const annotations = desc.annotations ?? {};
    // containerd's annotation is a full reference; the OCI one is often only a tag ("1.0"), usable only when it is more.
    const named = [annotations[REF_ANNOTATIONS[0]!], annotations[REF_ANNOTATIONS[1]!]].find((v) => v !== undefined && v.includes('/'));
    const reference = tag ?? (named ? tryNormalise(named) : undefined);
    const repository = reference ? repositoryName(parseReference(reference)) : 'import';
    out.push(await d.installer.install(bytes, digest, repository, { project, reference }, source));
  }
  if (out.length === 0) throw imageInvalid('the OCI layout lists no images');
  return out;
}

async function importDockerSave(d: ImportDeps, s: Scanned, project: string, tag: string | undefined): Promise<ImageRecord[]> {
  const entries = parseImageDocument(DockerSaveManifest, s.documents.get('manifest.json')!, 'manifest.json');
  const out: ImageRecord[] = [];
  for (const entry of entries) {
    // docker save names files, not digests: describe each by what the store computed for it.
    const describe = (rel: string, mediaType: string) => {
      const path = posix.normalize(rel).replace(/^(\.\/)+|^\/+/, '');
      const doc = s.documents.get(path);
      if (doc) return { mediaType, digest: `sha256:${createHash('sha256').update(doc).digest('hex')}`, size: doc.length, doc };
      const digest = s.stored.get(path);
      if (!digest) throw imageInvalid(`manifest.json names ${rel}, which the archive does not contain`);
      return { mediaType, digest, size: d.content.size(digest) };
    };
    const { doc: configBytes, ...config } = describe(entry.Config, MediaType.DockerConfig);
    const layers = entry.Layers.map((l) => {
      const { doc: _doc, ...desc } = describe(l, 'application/vnd.docker.image.rootfs.diff.tar');
      return desc;
    });
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers }));
    const manifestDigest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
    const source = {
      open: async (digest: string) => {
        if (configBytes && digest === config.digest) return Readable.from([configBytes]);
        return createReadStream(d.content.path(digest)) as Readable;
      },
    };
    const refs = tag !== undefined ? [tag] : (entry.RepoTags ?? []).map(tryNormalise).filter((r): r is string => r !== undefined);
    const first = refs[0];
    const repository = first ? repositoryName(parseReference(first)) : 'import';
    const image = await d.installer.install(manifestBytes, manifestDigest, repository, { project, reference: first }, source);
    for (const r of refs.slice(1)) await d.installer.install(manifestBytes, manifestDigest, repository, { project, reference: r }, source);
    out.push(image);
  }
  return out;
}

function mapScanError(e: unknown): unknown {
  if (e instanceof AirlockError) return e;
  if (e instanceof BlobTooLargeError) return new AirlockError(ErrorCode.PayloadTooLarge, e.message);
  if (e instanceof DigestMismatchError) return imageInvalid(e.message);
  if (isStorageFull(e))
    return new AirlockError(ErrorCode.StorageFull, `the image store is full (${(e as Error).message}); prune unused images or enlarge the store`);
  return imageInvalid(`the upload is not a readable tar archive (${(e as Error).message})`);
}

function normalise(tag: string): string {
  try {
    return formatReference(parseReference(tag));
  } catch (e) {
    throw new AirlockError(ErrorCode.InvalidRequest, (e as Error).message);
  }
}

function tryNormalise(ref: string): string | undefined {
  try {
    return formatReference(parseReference(ref));
  } catch {
    return undefined;
  }
}
