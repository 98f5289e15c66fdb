/**
 * Build benchmarks, next to `buildah bud` (Debian's buildah, chroot isolation, overlay storage of
 * its own) for the same Dockerfile in the same run: a cold build (base pulled from a loopback
 * registry, every step run), a cached rebuild (nothing changed), and the layer commit throughput
 * (MiB of uncompressed tar per second) of a step that copies /usr/lib (81 MiB, 2,400 files), against
 * `buildah commit` of the same change. Airlock's RUN steps run in gVisor sandboxes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Airlock } from '@airlock/sdk';
import { startBuildah, buildahAvailable } from '@airlock/testkit/buildah.js';
import { startBaseRegistry } from '@airlock/testkit/build-fixtures.js';
import { summarize } from './stats.js';
import type { ImageRow } from './images.js';

const WRITE = 'cp -a /usr/lib /opt/lib-copy';

const dockerfile = (base: string) => `FROM ${base}
RUN ${WRITE}
COPY app.py /app/
RUN python3 /app/app.py > /app/out
`;

export async function benchBuilds(airlock: Airlock, scratch: string, n: { builds: number }): Promise<ImageRow[]> {
  const rows: ImageRow[] = [];
  const env = await startBaseRegistry();
  const ctx = mkdtempSync(join(scratch, 'build-ctx-'));
  writeFileSync(join(ctx, 'app.py'), 'import sys\nprint(sys.version_info[:3])\n');
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile(env.base));
  const haveBuildah = buildahAvailable();
  try {
    const cold: number[] = [];
    const cached: number[] = [];
    const commit: { gzip: number[]; zstd: number[] } = { gzip: [], zstd: [] };
    let layerBytes = 0;
    for (let i = 0; i < n.builds; i++) {
      await airlock.images.prune(); // the base too: a cold build pulls it, as buildah's does
      for (const compression of ['gzip', 'zstd'] as const) {
        const t0 = performance.now();
        await airlock.images.build({
          context: ctx,
          tags: ['bench/build:1'],
          noCache: true,
          compression,
          onEvent: (e) => {
            if (e.type === 'layer' && e.commit && e.commit.tarBytes > 16 * 2 ** 20) {
              layerBytes = e.commit.tarBytes;
              commit[compression].push(e.commit.tarBytes / 2 ** 20 / (e.commit.ms / 1000));
            }
          },
        });
        if (compression === 'gzip') cold.push(performance.now() - t0);
      }
      const t1 = performance.now();
      await airlock.images.build({ context: ctx, tags: ['bench/build:1'], compression: 'zstd' });
      cached.push(performance.now() - t1);
    }
    const buildah = { cold: [] as number[], cached: [] as number[], commit: [] as number[] };
    if (haveBuildah) {
      for (let i = 0; i < n.builds; i++) {
        const dir = mkdtempSync(join(scratch, 'buildah-'));
        mkdirSync(dir, { recursive: true });
        const b = startBuildah(dir, env.registry.host);
        try {
          buildah.cold.push(b.bud(ctx, join(ctx, 'Dockerfile'), 'bench/build:1'));
          buildah.cached.push(b.bud(ctx, join(ctx, 'Dockerfile'), 'bench/build:1'));
          // The same change as Airlock's step, so the same uncompressed layer size.
          const ms = b.timeCommit(env.base, WRITE, 'bench/commit:1');
          buildah.commit.push(layerBytes / 2 ** 20 / (ms / 1000));
        } finally {
          b.remove();
        }
      }
    }
    const baseline = (name: string, v: number[]) => (v.length > 0 ? { baseline: { name, summary: summarize(v) } } : {});
    rows.push({
      metric: 'image build, cold (base pulled, 3 steps, RUN in gVisor), ms',
      runtime: 'gvisor',
      airlock: summarize(cold),
      ...baseline('buildah bud (chroot)', buildah.cold),
    });
    rows.push({
      metric: 'image build, cached rebuild (nothing changed), ms',
      runtime: 'gvisor',
      airlock: summarize(cached),
      ...baseline('buildah bud --layers', buildah.cached),
    });
    const mib = (layerBytes / 2 ** 20).toFixed(0);
    rows.push({
      metric: `layer commit, MiB/s of tar (${mib} MiB layer), gzip`,
      runtime: 'host',
      airlock: summarize(commit.gzip),
      ...baseline('buildah commit (stores it uncompressed)', buildah.commit),
    });
    rows.push({ metric: `layer commit, MiB/s of tar (${mib} MiB layer), zstd`, runtime: 'host', airlock: summarize(commit.zstd) });
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    await env.registry.stop();
  }
  return rows;
}
