/**
 * @module images
 * Wire schemas for local images: pull (with an NDJSON progress stream), import, list, inspect,
 * remove and prune.
 */
import { z } from 'zod';

export const ImageReferenceString = z
  .string()
  .min(1)
  .max(512)
  .describe('A reference as Docker takes it: python:3.12-slim, ghcr.io/org/repo:tag, host:5000/repo@sha256:…');

export const PullImageRequest = z.object({ reference: ImageReferenceString }).strict().meta({ id: 'PullImageRequest' });
export type PullImageRequest = z.infer<typeof PullImageRequest>;

export const ImageConfigSchema = z.object({
  env: z.array(z.string()),
  entrypoint: z.array(z.string()),
  cmd: z.array(z.string()),
  workingDir: z.string(),
  user: z.string(),
  os: z.string(),
  architecture: z.string(),
});
/** What Airlock keeps of an image's config: the defaults a sandbox and its execs start from. */
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const Image = z
  .object({
    id: z.string().describe('The manifest digest (sha256:…)'),
    repository: z.string(),
    references: z.array(z.string()).describe('Canonical references (tags or digests) that point at this image'),
    config: ImageConfigSchema,
    layers: z.array(z.object({ digest: z.string(), mediaType: z.string(), size: z.number().int(), diffId: z.string() })),
    size: z.number().int().describe('Bytes of the compressed blobs'),
    unpackedBytes: z.number().int(),
    inUse: z.boolean().describe('A sandbox that is not destroyed was created from it'),
    createdAt: z.string(),
    lastUsedAt: z.string(),
  })
  .meta({ id: 'Image' });
export type Image = z.infer<typeof Image>;

export const ImageList = z.object({ images: z.array(Image) }).meta({ id: 'ImageList' });
export type ImageList = z.infer<typeof ImageList>;

export const PullProgressEvent = z.object({
  type: z.literal('progress'),
  phase: z.enum(['resolving', 'downloading', 'unpacking', 'done']),
  layersTotal: z.number().int(),
  layersDone: z.number().int(),
  bytesTotal: z.number().int(),
  bytesDone: z.number().int(),
});

/** One line of the pull stream: progress, then exactly one `image` or `error` line. */
export const PullEvent = z
  .discriminatedUnion('type', [
    PullProgressEvent,
    z.object({ type: z.literal('image'), image: Image }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ])
  .meta({ id: 'PullEvent' });
export type PullEvent = z.infer<typeof PullEvent>;

export const PruneResult = z
  .object({ removed: z.array(z.string()).describe('Ids of the removed images'), freedBytes: z.number().int() })
  .meta({ id: 'PruneResult' });
export type PruneResult = z.infer<typeof PruneResult>;

export const ImportResult = z.object({ images: z.array(Image) }).meta({ id: 'ImportResult' });
export type ImportResult = z.infer<typeof ImportResult>;
