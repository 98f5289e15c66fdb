/**
 * Image benchmarks: a cold pull + unpack of the fixture Python image (Debian minbase + python3, one
 * 77 MiB gzip layer plus a small one) from a loopback registry, next to `skopeo copy` + `umoci raw
 * unpack` of the same image in the same run; and the preparation of one sandbox's rootfs from the
 * cached image, next to the two `btrfs` CLI calls that do the same.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Airlock } from '@airlock/sdk';
import type { RunningServer } from '@airlock/server';
import { pushImage, readPythonRootfsTar, startRegistry, tarOf } from '@airlock/testkit/image-fixtures.js';
import { summarize, type Summary } from './stats.js';

/** Runs `fn` (which returns the milliseconds of the part worth timing) `n` times after `warmup` runs. */
async function sample(n: number, fn: () => Promise<number>, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

export interface ImageRow {
  metric: string;
  runtime: string;
  airlock: Summary;
  baseline?: { name: string; summary: Summary };
}

function run(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.toString()}`);
}

export async function benchImages(
  airlock: Airlock,
  server: RunningServer,
  scratch: string,
  n: { pull: number; prepare: number; tti: number },
): Promise<ImageRow[]> {
  const rows: ImageRow[] = [];
  const registry = await startRegistry(join(scratch, 'registry'));
  try {
    const extra = await tarOf([{ name: 'app/main.py', body: 'print(1)\n' }]);
    await pushImage(registry.host, 'bench/py', '1', [readPythonRootfsTar(), extra]);
    const ref = `${registry.host}/bench/py:1`;

    const pulls = await sample(n.pull, async () => {
      await airlock.images.prune();
      const t0 = performance.now();
      await airlock.images.pull(ref);
      return performance.now() - t0;
    });
    const baseline = await sample(n.pull, async () => {
      const dir = mkdtempSync(join(scratch, 'skopeo-'));
      try {
        const t0 = performance.now();
        run(['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}/layout:py`]);
        mkdirSync(join(dir, 'out'));
        run(['umoci', 'raw', 'unpack', '--image', `${dir}/layout:py`, join(dir, 'out', 'rootfs')]);
        return performance.now() - t0;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    rows.push({
      metric: 'image pull + unpack, python fixture (cold, loopback registry)',
      runtime: 'host',
      airlock: summarize(pulls),
      baseline: { name: 'skopeo copy + umoci raw unpack', summary: summarize(baseline) },
    });

    const image = await airlock.images.get(ref);
    let i = 0;
    for (const idmap of [undefined, { hostId: 1_000_000 + 500 * 65_536, size: 65_536 }]) {
      const times = await sample(
        n.prepare,
        async () => {
          const id = `bench-prep-${process.pid}-${i++}`;
          const t0 = performance.now();
          await server.images.provider.prepare(image.id, id, { memoryMiB: 256, diskMiB: 1024, idmap });
          const ms = performance.now() - t0;
          await server.images.provider.release(id);
          return ms;
        },
        3,
      );
      const store = join(server.config.dataDir, 'images', 'store', 'fs');
      const layer = join(store, 'layers', chainHex(image.layers.map((l) => l.diffId)));
      const cli = await sample(
        n.prepare,
        async () => {
          const dst = join(store, 'sandboxes', `bench-cli-${process.pid}-${i++}`);
          const t0 = performance.now();
          run(['btrfs', '-q', 'subvolume', 'snapshot', layer, dst]);
          run(['btrfs', 'qgroup', 'limit', '-e', '1G', dst]);
          const ms = performance.now() - t0;
          run(['btrfs', '-q', 'subvolume', 'delete', dst]);
          return ms;
        },
        3,
      );
      rows.push({
        metric: `rootfs for one sandbox from a cached image${idmap ? ' (idmapped, for runc)' : ' (gVisor)'}`,
        runtime: 'host',
        airlock: summarize(times),
        baseline: { name: 'btrfs subvolume snapshot + qgroup limit (CLI)', summary: summarize(cli) },
      });
    }

    for (const runtime of ['runc', 'gvisor'] as const) {
      const tti = await sample(n.tti, async () => {
        const t0 = performance.now();
        const sb = await airlock.sandboxes.create({ runtime, image: ref });
        const r = await sb.exec(['python3', '/app/main.py']);
        const ms = performance.now() - t0;
        if (r.stdout !== '1\n') throw new Error(`unexpected ${JSON.stringify(r.stdout)}`);
        await sb.destroy();
        return ms;
      });
      rows.push({ metric: 'create to first output from the pulled image: python3 (cold)', runtime, airlock: summarize(tti) });
    }
    await airlock.images.prune();
  } finally {
    await registry.stop();
  }
  return rows;
}

/** The store names layers by ChainID; recomputed from the DiffIDs as the server does. */
function chainHex(diffIds: string[]): string {
  let chain = '';
  for (const d of diffIds) chain = chain === '' ? d : `sha256:${createHash('sha256').update(`${chain} ${d}`).digest('hex')}`;
  return chain.slice(7);
}
