/**
 * @module layer-commit
 * Commits a build step: the difference between its root and its parent layer becomes an OCI layer
 * (layer-tar.ts), hashed uncompressed (its DiffID) and compressed (gzip or zstd, each by its own
 * program: host/codec.ts) into the content store under its digest, in one pass. Then the step's
 * root is made to equal its parent with that layer applied: the mtimes written are set on it too,
 * and what the runtime alone put there (mount points, the agent's directory) is removed, so the
 * layer on disk is exactly what a pull of the pushed image would unpack.
 */
import { lutimes, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { compressed } from '../../host/codec.js';
import type { EntryStat } from '../../host/tree-stat.js';
import type { ContentStore } from '../content-store.js';
import { DigestMeter } from '../digest-meter.js';
import { MediaType } from '../manifest.js';
import { writeLayerTar, type TimeRule } from './layer-tar.js';
import { TarWriter } from './tar-writer.js';
import { diffTrees, type Change } from './tree-diff.js';

export type LayerCompression = 'gzip' | 'zstd';

export interface CommitInput {
  /** The parent layer's root; undefined for a step on an empty root (FROM scratch). */
  lower: string | undefined;
  /** The step's root: a writable snapshot of `lower` that the step wrote, with nothing running in it. */
  upper: string;
  rule: TimeRule;
  compression: LayerCompression;
  content: ContentStore;
  /** Mount points and files a runtime adds to a root it runs (relative paths). */
  runtimeArtifacts?: readonly string[];
  /**
   * Bound on the bytes of file content in the layer. A step's disk limit bounds what it writes,
   * but not sparse files, which a tar holds at full size: a 1 TB sparse file must not become a
   * 1 TB layer.
   */
  maxFileBytes?: number;
  /** The project building: the tree walks and the compression run in the project's ops leaf (host/cgroups.ts chargeTo). */
  project?: string;
}

export class LayerTooLargeError extends Error {
  override readonly name = 'LayerTooLargeError';
}

export interface CommittedLayer {
  diffId: string;
  digest: string;
  size: number;
  mediaType: string;
  /** Bytes of the uncompressed tar. */
  tarBytes: number;
  changes: number;
}

/** Always the runtime's own: the agent's directory in every sandbox root. */
const AGENT_DIR = '.airlock';

export async function commitLayer(input: CommitInput): Promise<CommittedLayer> {
  const artifacts = new Set(input.runtimeArtifacts ?? []);
  const removed: string[] = [];
  const isArtifact = (path: string, stat: EntryStat) => {
    const top = path.split('/')[0]!;
    const ours = top === AGENT_DIR || (artifacts.has(path) && (stat.type === 'dir' || stat.size === 0));
    if (ours) removed.push(path);
    return ours;
  };
  const diff = await diffTrees(input.lower, input.upper, { runtimeArtifact: isArtifact, project: input.project });
  // The agent's directory is never the image's, even where the parent had one.
  const changes: Change[] = diff.changes.filter((c) => c.path !== AGENT_DIR && !c.path.startsWith(`${AGENT_DIR}/`));

  if (input.maxFileBytes !== undefined) {
    let bytes = 0;
    for (const c of changes) if (c.kind !== 'delete' && c.stat.type === 'file') bytes += c.stat.size;
    if (bytes > input.maxFileBytes) {
      throw new LayerTooLargeError(
        `the step wrote ${bytes} bytes of files (a sparse file counts at its full size), over the ${input.maxFileBytes}-byte limit of a layer`,
      );
    }
  }
  const tarWriter = new TarWriter();
  const meter = new DigestMeter();
  const tar = tarWriter.stream.pipe(meter);
  const layer = compressed(tar, input.compression, input.project);
  const writing = writeLayerTar(changes, input.upper, diff.upper, input.rule, tarWriter).then(
    async (written) => {
      await tarWriter.finish();
      return written;
    },
    (e: unknown) => {
      layer.destroy(e as Error);
      throw e;
    },
  );
  const [stored, written] = await Promise.all([input.content.ingestUnnamed(layer, Number.MAX_SAFE_INTEGER), writing]);

  for (const e of written) await lutimes(join(input.upper, e.path), e.mtime, e.mtime);
  for (const p of removed) await rm(join(input.upper, p), { recursive: true, force: true });
  await rm(join(input.upper, AGENT_DIR), { recursive: true, force: true });
  return {
    diffId: meter.digest(),
    digest: stored.digest,
    size: stored.size,
    mediaType: input.compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayerGzip,
    tarBytes: meter.bytes,
    changes: changes.length,
  };
}
