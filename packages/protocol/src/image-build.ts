/**
 * @module image-build
 * Wire schemas for building images from a Dockerfile (the context is the request body, a tar;
 * progress and step output come back as NDJSON), cancelling a build, and pushing an image to a
 * registry (NDJSON progress too). Saving an image is a plain tar download (an OCI image layout).
 */
import { z } from 'zod';
import { Image, ImageReferenceString } from './images.js';

/** One string or several (a query key given more than once). */
const Many = z.union([z.string(), z.array(z.string())]).optional();

export const BuildImageQuery = z
  .object({
    dockerfile: z.string().min(1).max(4096).optional().describe('Path of the Dockerfile in the context (default Dockerfile)'),
    tag: Many.describe('Reference to tag the image with; repeat for several'),
    buildArg: Many.describe('KEY=VALUE for an ARG; repeat for several'),
    target: z.string().min(1).max(128).optional().describe('Stage to build (default: the last)'),
    runtime: z.enum(['gvisor', 'runc']).optional().describe('Runtime of the RUN steps (default gvisor)'),
    allow: Many.describe('Domain RUN steps may reach (refused until network policies exist)'),
    compression: z.enum(['gzip', 'zstd']).optional().describe('Layer compression (default gzip)'),
    noCache: z.enum(['true', 'false', '1', '0']).optional().describe('Rebuild every step'),
    timeout: z.coerce
      .number()
      .int()
      .positive()
      .max(24 * 3600)
      .optional()
      .describe('Seconds each RUN step may take (default: the sandbox default)'),
  })
  .meta({ id: 'BuildImageQuery' });
export type BuildImageQuery = z.infer<typeof BuildImageQuery>;

/** One line of the build stream: `build` first, then steps with their output and layers, then one `image` or `error`. */
export const BuildEvent = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('build'), id: z.string().describe('Cancel with DELETE /v1/images/builds/{id}') }),
    z.object({
      type: z.literal('step'),
      step: z.number().int(),
      steps: z.number().int(),
      stage: z.number().int(),
      line: z.number().int(),
      instruction: z.string(),
    }),
    z.object({ type: z.literal('output'), step: z.number().int(), stream: z.enum(['stdout', 'stderr']), data: z.string() }),
    z.object({
      type: z.literal('layer'),
      step: z.number().int(),
      digest: z.string(),
      diffId: z.string(),
      size: z.number().int(),
      cached: z.boolean(),
      durationMs: z.number(),
      commit: z
        .object({ ms: z.number(), tarBytes: z.number().int() })
        .optional()
        .describe('A layer made now: how long its commit took and its uncompressed size'),
    }),
    z.object({ type: z.literal('image'), image: Image }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ])
  .meta({ id: 'BuildEvent' });
export type BuildEvent = z.infer<typeof BuildEvent>;

export const CancelBuildResult = z.object({ id: z.string(), cancelled: z.literal(true) }).meta({ id: 'CancelBuildResult' });
export type CancelBuildResult = z.infer<typeof CancelBuildResult>;

export const PushImageRequest = z
  .object({
    image: z.string().min(1).max(600).describe('Local image: id or reference'),
    reference: ImageReferenceString.optional().describe('Where to push it (default: the image reference itself)'),
  })
  .strict()
  .meta({ id: 'PushImageRequest' });
export type PushImageRequest = z.infer<typeof PushImageRequest>;

/** One line of the push stream: progress per blob, then one `pushed` or `error`. */
export const PushEvent = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('blob'), digest: z.string(), size: z.number().int(), action: z.enum(['exists', 'mounted', 'uploaded']) }),
    z.object({ type: z.literal('pushed'), reference: z.string(), digest: z.string() }),
    z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  ])
  .meta({ id: 'PushEvent' });
export type PushEvent = z.infer<typeof PushEvent>;
