/**
 * @module builtin-images
 * The images the project offers (the repository's `images/` folder), built where the server runs:
 * the base from Debian's packages alone with mmdebstrap (cached by the hash of its package list),
 * imported as a one-layer image, then the image's Dockerfile built on it through the API, every
 * RUN step in a sandbox. mmdebstrap needs root and a Debian mirror, nothing else.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, type Airlock, type ImageInfo } from '@airlock/sdk';
import { buildProgress } from './build-progress.js';

/** The repository's images/ folder, next to packages/ (this file is packages/cli/dist/builtin-images.js). */
export const BUILTIN_DIR = fileURLToPath(new URL('../../../images/', import.meta.url));
const CACHE = process.env.AIRLOCK_BUILTIN_CACHE ?? '/var/cache/airlock/builtin';

interface BuiltinSpec {
  tag: string;
  base: { suite: string; variant: string; mirror: string; packages: string[] };
}

export function builtinNames(): string[] {
  return existsSync(BUILTIN_DIR) ? readdirSync(BUILTIN_DIR).filter((n) => existsSync(join(BUILTIN_DIR, n, 'image.json'))) : [];
}

export async function buildBuiltin(airlock: Airlock, name: string, opts: { runtime?: 'gvisor' | 'runc'; noCache?: boolean } = {}): Promise<ImageInfo> {
  if (!builtinNames().includes(name)) throw new Error(`no built-in image ${JSON.stringify(name)} (known: ${builtinNames().join(', ') || 'none'})`);
  const dir = join(BUILTIN_DIR, name);
  const spec = JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as BuiltinSpec;
  const hash = createHash('sha256').update(JSON.stringify(spec.base)).digest('hex').slice(0, 12);
  const baseTag = `airlock/${name}-base:${hash}`;
  try {
    await airlock.images.get(baseTag);
    process.stderr.write(`airlock: base ${baseTag} is already on the server\n`);
  } catch (e) {
    if ((e as { code?: string }).code !== ErrorCode.ImageNotFound) throw e;
    const rootfs = mmdebstrap(spec, join(CACHE, `${name}-${hash}.tar`));
    process.stderr.write(`airlock: importing the base as ${baseTag}\n`);
    await airlock.images.import(await ociLayout(rootfs), { tag: baseTag });
  }
  return airlock.images.build({
    context: dir,
    tags: [spec.tag],
    buildArgs: { BASE: baseTag },
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.noCache ? { noCache: true } : {}),
    onEvent: buildProgress(),
  });
}

/** The base root filesystem as a tar, made once per package list. */
function mmdebstrap(spec: BuiltinSpec, out: string): string {
  if (existsSync(out) && statSync(out).size > 0) return out;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const b = spec.base;
  process.stderr.write(`airlock: making the base with mmdebstrap (${b.suite}, ${b.packages.length} packages); this takes a few minutes\n`);
  const r = spawnSync(
    'mmdebstrap',
    [
      '--quiet',
      `--variant=${b.variant}`,
      `--include=${b.packages.join(',')}`,
      '--mode=root',
      '--format=tar',
      '--aptopt=Acquire::Retries "3"',
      b.suite,
      tmp,
      b.mirror,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SOURCE_DATE_EPOCH: '0' } },
  );
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`mmdebstrap failed (${r.error?.message ?? `exit ${r.status}`}); it needs root, the mmdebstrap package and a reachable Debian mirror`);
  }
  renameSync(tmp, out);
  return out;
}

/** A one-layer OCI image layout (the layer uncompressed) as tar bytes, for `images.import`. */
async function ociLayout(rootfsTar: string): Promise<Uint8Array> {
  const layer = readFileSync(rootfsTar);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}`, size: layer.length }],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }],
    }),
  );
  // Loaded here: tar-stream is needed only by this rare command, and `airlock ls` should not pay for it.
  const { tarBuilder } = await import('@airlock/sdk/context');
  const tar = tarBuilder();
  const files: [string, Buffer][] = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', index],
    ...[config, manifest, layer].map((b): [string, Buffer] => [`blobs/sha256/${sha(b)}`, b]),
  ];
  for (const [name, body] of files) await tar.put({ name, mode: 0o644 }, body);
  return tar.finish();
}
