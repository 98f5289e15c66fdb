/**
 * @module manifest
 * The OCI and Docker v2 image documents Airlock reads (index / manifest list, manifest, config),
 * validated with zod so that a malformed or hostile document is a clear error, not a crash; and the
 * choice of the host's platform from an index.
 */
import { createHash } from 'node:crypto';
import type { ImageConfig } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { z } from 'zod';
import { AirlockError } from '../errors.js';

export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  DockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerList, MediaType.DockerManifest].join(', ');

export type Compression = 'none' | 'gzip' | 'zstd';

/** How a layer's bytes are compressed, from its media type; undefined for a type we cannot unpack. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MediaType.OciLayer:
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return 'none';
    case MediaType.OciLayerGzip:
    case MediaType.DockerLayerGzip:
      return 'gzip';
    case MediaType.OciLayerZstd:
      return 'zstd';
    default:
      return undefined;
  }
}

const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be a sha256 digest');

export const Descriptor = z.object({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  platform: z.object({ architecture: z.string(), os: z.string(), variant: z.string().optional() }).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

export const Index = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor),
});
export type Index = z.infer<typeof Index>;

export const Manifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor).max(500),
});
export type Manifest = z.infer<typeof Manifest>;

export const ImageConfigDocument = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  config: z
    .object({
      Env: z.array(z.string()).nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      WorkingDir: z.string().nullish(),
      User: z.string().nullish(),
    })
    .nullish(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digest) }),
});
export type ImageConfigDocument = z.infer<typeof ImageConfigDocument>;

export function runtimeConfigOf(doc: ImageConfigDocument): ImageConfig {
  const c = doc.config ?? {};
  return {
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    workingDir: c.WorkingDir || '/',
    user: c.User || 'root',
    os: doc.os ?? 'linux',
    architecture: doc.architecture ?? hostArchitecture(),
  };
}

export function isIndex(mediaType: string | undefined, doc: unknown): boolean {
  if (mediaType === MediaType.OciIndex || mediaType === MediaType.DockerList) return true;
  return typeof doc === 'object' && doc !== null && 'manifests' in doc && !('layers' in doc);
}

/** The host's platform in OCI terms. */
export function hostArchitecture(): string {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return arch[process.arch] ?? process.arch;
}

/** Picks the manifest for linux on the host's architecture, or undefined with the platforms offered. */
export function selectPlatform(index: Index): { chosen: Descriptor | undefined; offered: string[] } {
  const arch = hostArchitecture();
  const offered = index.manifests
    .filter((m) => m.platform)
    .map((m) => `${m.platform!.os}/${m.platform!.architecture}${m.platform!.variant ? `/${m.platform!.variant}` : ''}`);
  const candidates = index.manifests.filter((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  const chosen = candidates.find((m) => arch !== 'arm64' || m.platform?.variant === undefined || m.platform.variant === 'v8') ?? candidates[0];
  return { chosen, offered };
}

/** ChainID of each layer (image-spec): the identity of "this layer on top of exactly these below". */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${sha256Hex(`${prev} ${d}`)}`);
  }
  return out;
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** An image document or blob that cannot be used: `image_invalid`. */
export function imageInvalid(message: string): AirlockError {
  return new AirlockError(ErrorCode.ImageInvalid, message);
}

/** Parses JSON bytes against a schema; malformed input is `image_invalid` naming `what` and the field. */
export function parseImageDocument<T>(schema: z.ZodType<T>, bytes: Buffer, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw imageInvalid(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw imageInvalid(`${what} is malformed: ${issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  return parsed.data;
}
