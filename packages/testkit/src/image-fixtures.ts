/**
 * @module image-fixtures
 * Test and bench support for images: a real registry (Debian's docker-registry) on loopback, a
 * small push client for the distribution API, tar layers built from entry lists (including hostile
 * ones no archiver would write), and a Python rootfs layer built offline with mmdebstrap from
 * Debian's packages and cached between runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export const FIXTURE_CACHE = process.env.AIRLOCK_FIXTURE_CACHE ?? '/var/cache/airlock-test';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** An uncompressed tar of exactly these entries, names untouched (so hostile names stay hostile). */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = type === 'file' ? Buffer.from(e.body ?? '') : undefined;
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: new Date(1_700_000_000_000),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(type === 'character-device' ? { devmajor: 1, devminor: 3 } : {}),
      };
      p.entry(header, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Registry {
  /** host:port */
  host: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts docker-registry on a free loopback port with its storage in `dir`. */
export async function startRegistry(dir: string): Promise<Registry> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function pushBlob(host: string, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  if ((await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status === 200) return { digest, size: bytes.length };
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
  return { digest, size: bytes.length };
}

export async function pushManifest(host: string, repo: string, tag: string, doc: object, mediaType: string): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes });
  if (res.status !== 201) throw new Error(`manifest put: ${res.status} ${await res.text()}`);
  return { digest: sha256(bytes), size: bytes.length };
}

export interface ImageConfigInput {
  env?: string[];
  cmd?: string[];
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  architecture?: string;
  /** Layer compression (default gzip); zstd goes through the zstd program. */
  compression?: 'gzip' | 'zstd';
}

export interface BuiltImage {
  manifest: object;
  manifestBytes: Buffer;
  config: Buffer;
  /** Compressed layer blobs, as pushed. */
  layers: Buffer[];
}

/** Builds an OCI image (gzip layers) from uncompressed layer tars. */
export function buildImage(layerTars: Buffer[], input: ImageConfigInput = {}): BuiltImage {
  const zstd = input.compression === 'zstd';
  const layers = layerTars.map((t) => (zstd ? zstdCompress(t) : gzipSync(t, { level: 1 })));
  const config = Buffer.from(
    JSON.stringify({
      architecture: input.architecture ?? 'amd64',
      os: 'linux',
      config: {
        Env: input.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(input.cmd ? { Cmd: input.cmd } : {}),
        ...(input.entrypoint ? { Entrypoint: input.entrypoint } : {}),
        ...(input.workingDir ? { WorkingDir: input.workingDir } : {}),
        ...(input.user ? { User: input.user } : {}),
      },
      rootfs: { type: 'layers', diff_ids: layerTars.map((t) => sha256(t)) },
      // One entry per layer, as real images have (buildah refuses to build on an image without).
      history: layerTars.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `fixture layer ${i}` })),
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar+${zstd ? 'zstd' : 'gzip'}`, digest: sha256(l), size: l.length })),
  };
  return { manifest, manifestBytes: Buffer.from(JSON.stringify(manifest)), config, layers };
}

function zstdCompress(tar: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '-1'], { input: tar, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Writes an OCI image layout for a built image into `dir` (as `skopeo copy … oci:` would). */
export function writeOciLayout(dir: string, image: BuiltImage, refName?: string): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const blob of [image.config, ...image.layers, image.manifestBytes]) writeFileSync(join(dir, 'blobs', 'sha256', sha256(blob).slice(7)), blob);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const desc = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(image.manifestBytes),
    size: image.manifestBytes.length,
    ...(refName ? { annotations: { 'io.containerd.image.name': refName } } : {}),
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [desc] }));
}

/** Pushes an image built from uncompressed layer tars; returns its manifest digest. */
export async function pushImage(
  host: string,
  repo: string,
  tag: string,
  layerTars: Buffer[],
  input: ImageConfigInput = {},
): Promise<{ digest: string; size: number; image: BuiltImage }> {
  const image = buildImage(layerTars, input);
  await pushBlob(host, repo, image.config);
  for (const l of image.layers) await pushBlob(host, repo, l);
  const m = await pushManifest(host, repo, tag, JSON.parse(image.manifestBytes.toString()) as object, 'application/vnd.oci.image.manifest.v1+json');
  return { ...m, image };
}

/** Pushes an index that points at already pushed manifests, one per platform. */
export async function pushIndex(
  host: string,
  repo: string,
  tag: string,
  entries: { digest: string; size: number; architecture: string }[],
): Promise<{ digest: string }> {
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: entries.map((e) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: e.digest,
      size: e.size,
      platform: { os: 'linux', architecture: e.architecture },
    })),
  };
  return pushManifest(host, repo, tag, index, 'application/vnd.oci.image.index.v1+json');
}

/**
 * A Debian 12 minbase root filesystem with python3, as one uncompressed tar: built once with
 * mmdebstrap from Debian's packages (about 15 s) and cached in FIXTURE_CACHE.
 */
export function pythonRootfsTar(): string {
  const path = join(FIXTURE_CACHE, 'python-bookworm-minbase-v1.tar');
  if (existsSync(path) && statSync(path).size > 50 * 1024 * 1024) return path;
  mkdirSync(FIXTURE_CACHE, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const r = spawnSync(
    'mmdebstrap',
    ['--quiet', '--variant=minbase', '--include=python3-minimal', '--mode=root', '--format=tar', 'bookworm', tmp, 'http://deb.debian.org/debian'],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 },
  );
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`mmdebstrap failed (${r.status}): ${r.stderr?.toString().slice(-2000)}`);
  }
  renameSync(tmp, path);
  return path;
}

export function readPythonRootfsTar(): Buffer {
  return readFileSync(pythonRootfsTar());
}
