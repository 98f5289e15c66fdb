/**
 * @module image-import
 * Imports images for hosts without registry access, from a tar stream of either
 *   - an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), or
 *   - a `docker save` archive (`manifest.json` naming a config and uncompressed layer tars).
 * The archive is unpacked with the same hostile-input rules as a layer into a private scratch
 * directory; every blob then goes through the content store's digest check, exactly as in a pull.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { ImageRecord } from '../store/store.js';
import type { ImageService } from './image-service.js';
import { LayerError, applyLayer } from './layer-apply.js';
import { Index, MediaType, imageInvalid, isIndex, parseImageDocument, selectPlatform } from './manifest.js';
import { formatReference, parseReference, repositoryName } from './reference.js';
import { resolveDirectory } from './scoped-path.js';

const DockerSaveManifest = z.array(
  z.object({ Config: z.string(), RepoTags: z.array(z.string()).nullish(), Layers: z.array(z.string()).min(1) }),
);

const REF_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name'];

export async function importImages(images: ImageService, scratchRoot: string, archive: Readable, tag: string | undefined): Promise<ImageRecord[]> {
  mkdirSync(scratchRoot, { recursive: true, mode: 0o700 });
  const dir = join(scratchRoot, randomBytes(8).toString('hex'));
  mkdirSync(dir, { mode: 0o700 });
  try {
    try {
      await applyLayer(archive, dir);
    } catch (e) {
      if (e instanceof LayerError) throw imageInvalid(`the archive has a hostile or malformed entry: ${e.message}`);
      throw imageInvalid(`the upload is not a readable tar archive (${(e as Error).message})`);
    }
    const file = (rel: string) => join(dir, resolveDirectory(dir, rel));
    const tagRef = tag === undefined ? undefined : normalise(tag);
    if (existsSync(file('oci-layout')) && existsSync(file('index.json'))) return await importLayout(images, file, tagRef);
    if (existsSync(file('manifest.json'))) return await importDockerSave(images, file, tagRef);
    throw imageInvalid('the archive is neither an OCI image layout (oci-layout + index.json) nor a docker save archive (manifest.json)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function importLayout(images: ImageService, file: (rel: string) => string, tag: string | undefined): Promise<ImageRecord[]> {
  const source = { open: async (digest: string) => createReadStream(file(`blobs/sha256/${digest.slice(7)}`)) as Readable };
  const index = parseImageDocument(Index, readFileSync(file('index.json')), 'index.json');
  const out: ImageRecord[] = [];
  for (const desc of index.manifests) {
    let digest = desc.digest;
    let bytes = readBlob(file, digest);
    if (isIndex(desc.mediaType, JSON.parse(bytes.toString('utf8')))) {
      const { chosen, offered } = selectPlatform(parseImageDocument(Index, bytes, `index ${digest}`));
      if (!chosen) throw imageInvalid(`index ${digest} has no variant for this host (it offers ${offered.join(', ') || 'none'})`);
      digest = chosen.digest;
      bytes = readBlob(file, digest);
    }
    const annotations = desc.annotations ?? {};
    // containerd's annotation is a full reference; the OCI one is often only a tag ("1.0"), usable only when it is more.
    const named = [annotations[REF_ANNOTATIONS[0]!], annotations[REF_ANNOTATIONS[1]!]].find((v) => v !== undefined && v.includes('/'));
    const reference = tag ?? (named ? tryNormalise(named) : undefined);
    const repository = reference ? repositoryName(parseReference(reference)) : 'import';
    out.push(await images.install(bytes, digest, repository, reference, source));
  }
  if (out.length === 0) throw imageInvalid('the OCI layout lists no images');
  return out;
}

async function importDockerSave(images: ImageService, file: (rel: string) => string, tag: string | undefined): Promise<ImageRecord[]> {
  const entries = parseImageDocument(DockerSaveManifest, readFileSync(file('manifest.json')), 'manifest.json');
  const out: ImageRecord[] = [];
  for (const entry of entries) {
    // docker save names files, not digests: hash them to build the OCI manifest they stand for.
    const paths = new Map<string, string>();
    const describe = async (rel: string, mediaType: string) => {
      const path = file(rel);
      if (!existsSync(path)) throw imageInvalid(`manifest.json names ${rel}, which the archive does not contain`);
      const { digest, size } = await hashFile(path);
      paths.set(digest, path);
      return { mediaType, digest, size };
    };
    const config = await describe(entry.Config, MediaType.DockerConfig);
    const layers = [];
    for (const l of entry.Layers) layers.push(await describe(l, 'application/vnd.docker.image.rootfs.diff.tar'));
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers }));
    const manifestDigest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
    const source = { open: async (digest: string) => createReadStream(paths.get(digest)!) as Readable };
    const refs = tag !== undefined ? [tag] : (entry.RepoTags ?? []).map(tryNormalise).filter((r): r is string => r !== undefined);
    const first = refs[0];
    const repository = first ? repositoryName(parseReference(first)) : 'import';
    const image = await images.install(manifestBytes, manifestDigest, repository, first, source);
    for (const r of refs.slice(1)) await images.install(manifestBytes, manifestDigest, repository, r, source);
    out.push(image);
  }
  return out;
}

function readBlob(file: (rel: string) => string, digest: string): Buffer {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw imageInvalid(`${digest} is not a sha256 digest`);
  const path = file(`blobs/sha256/${digest.slice(7)}`);
  if (!existsSync(path)) throw imageInvalid(`the layout lacks blob ${digest}`);
  const bytes = readFileSync(path);
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (actual !== digest) throw imageInvalid(`blob ${digest} in the layout has digest ${actual}`);
  return bytes;
}

async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
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
