/**
 * @module shape
 * What a sandbox is made of (runtime, image, cpu, memory, disk), resolved from a create request or a
 * pool's config against this server's runtimes, images, defaults and limits. Warm pools match on it.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import type { Config, PoolConfig } from '../config.js';
import { AirlockError, invalidRequest } from '../errors.js';
import type { ImageProvider } from '../images/image.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { Runtime } from '../runtimes/runtime.js';

export interface Shape {
  runtime: Runtime;
  imageProvider: ImageProvider;
  /** The reference as asked for (after the default), which is what pools match. */
  image: string;
  cpu: number;
  memoryMiB: number;
  diskMiB: number;
}

/** Validates what a create asks for against this server and resolves its defaults. */
export function resolveShape(
  d: { config: Config; runtimes: RuntimeRegistry; images: ImageProvider[] },
  req: {
    runtime?: PoolConfig['runtime'] | undefined;
    image?: string | undefined;
    cpu?: number | undefined;
    memoryMiB?: number | undefined;
    diskMiB?: number | undefined;
  },
): Shape {
  const { config, runtimes } = d;
  const runtimeName = req.runtime ?? runtimes.preferred();
  if (runtimeName === undefined) {
    throw new AirlockError(ErrorCode.RuntimeUnavailable, 'no isolation runtime is available on this host; see GET /v1/health');
  }
  const availability = runtimes.availability(runtimeName);
  if (!availability.available) throw new AirlockError(ErrorCode.RuntimeUnavailable, `runtime ${runtimeName} is not available: ${availability.reason}`);
  const runtime = runtimes.get(runtimeName)!;
  const imageRef = req.image ?? 'default';
  if (imageRef !== 'default' && !runtime.description.pulledImages) {
    throw invalidRequest(`runtime ${runtimeName} runs only the default image; use gvisor or runc for ${JSON.stringify(imageRef)}`);
  }
  const image = d.images.find((i) => i.has(imageRef));
  if (!image) throw new AirlockError(ErrorCode.ImageNotFound, `image ${JSON.stringify(imageRef)} is not known to this server (available: default)`);
  const cpu = req.cpu ?? config.defaults.cpu;
  const memoryMiB = req.memoryMiB ?? config.defaults.memoryMiB;
  const diskMiB = req.diskMiB ?? config.defaults.diskMiB;
  if (cpu > config.limits.maxCpu) throw invalidRequest(`cpu ${cpu} exceeds this server's limit of ${config.limits.maxCpu}`);
  if (memoryMiB > config.limits.maxMemoryMiB) throw invalidRequest(`memoryMiB ${memoryMiB} exceeds this server's limit of ${config.limits.maxMemoryMiB}`);
  if (diskMiB > config.limits.maxDiskMiB) throw invalidRequest(`diskMiB ${diskMiB} exceeds this server's limit of ${config.limits.maxDiskMiB}`);
  return { runtime, imageProvider: image, image: imageRef, cpu, memoryMiB, diskMiB };
}
