/**
 * @module build-types
 * What a build is asked for and what it reports, and what the builder is given: the contract between
 * the API, the build service and the builder (builder.ts).
 */
import type { Logger } from '../../log.js';
import type { ContentStore } from '../content-store.js';
import type { ImageService } from '../image-service.js';
import type { Snapshotter } from '../snapshotter.js';
import type { BuildContext } from './build-context.js';
import type { LayerCompression } from './layer-commit.js';
import type { StepCache } from './step-cache.js';
import type { StepRunner } from './step-runner.js';

export type BuildEvent =
  | { type: 'step'; step: number; steps: number; stage: number; line: number; instruction: string }
  | { type: 'output'; step: number; stream: 'stdout' | 'stderr'; data: string }
  | {
      type: 'layer';
      step: number;
      digest: string;
      diffId: string;
      size: number;
      cached: boolean;
      durationMs: number;
      commit?: { ms: number; tarBytes: number };
    };

/** What a build is asked for, whoever asks. */
export interface BuildSettings {
  /** References to tag the image with. */
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string | undefined;
  runtime?: string | undefined;
  allow: string[];
  compression: LayerCompression;
  noCache: boolean;
  /** The project the build acts for: its step sandboxes are that project's (absent: default). */
  project?: string | undefined;
  /** Whether the build may start from a local image (its project references it); absent: any. */
  canUse?: ((imageId: string) => Promise<boolean>) | undefined;
}

export interface BuildOptions extends BuildSettings {
  context: BuildContext;
  timeoutSeconds: number;
  signal: AbortSignal;
  /** Awaited: a slow consumer slows the build down instead of filling memory. */
  onEvent: (e: BuildEvent) => void | Promise<void>;
}

export interface BuilderDeps {
  images: ImageService;
  content: ContentStore;
  snapshotter: Snapshotter;
  cache: StepCache;
  runner: StepRunner;
  log: Logger;
  /** Bytes of file content one layer may hold (sparse files at full size). */
  maxLayerBytes: number;
}

/** Mount points the runtimes add to a root they run (relative); new empty ones are not the step's. */
export const RUNTIME_ARTIFACTS = ['proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue', 'dev/fuse', 'etc/ld.so.preload'];
