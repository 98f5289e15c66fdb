/**
 * @module build-context
 * Packs a build context directory into the tar the server takes (Node only; loaded on demand, so
 * the rest of the SDK stays free of `node:fs`). `.dockerignore` is applied here as well as on the
 * server, with the same rules (@balena/dockerignore, a port of Docker's matcher), so ignored files
 * are never sent. Symlinks are sent as symlinks, never followed. A Dockerfile given as text, or one
 * outside the context, travels under `.airlock-build/`, which the server keeps out of the context.
 */
import dockerignoreModule, { type Ignore } from '@balena/dockerignore';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pack } from 'tar-stream';

/** CommonJS with a `default` in its types: under NodeNext the default import is the module. */
const dockerignore = ((dockerignoreModule as unknown as { default?: unknown }).default ?? dockerignoreModule) as () => Ignore;

export const INLINE_DOCKERFILE = '.airlock-build/Dockerfile';

export interface PackedContext {
  tar: Uint8Array;
  /** The Dockerfile's path inside the tar. */
  dockerfile: string;
}

/**
 * `dir`: the context directory (undefined: an empty context). `dockerfile`: its text, sent
 * inline; otherwise `dockerfilePath` (relative to `dir`, default `Dockerfile`) is used.
 */
export async function packContext(dir: string | undefined, opts: { dockerfile?: string; dockerfilePath?: string } = {}): Promise<PackedContext> {
  const { put, finish } = tarBuilder();
  let dockerfile = opts.dockerfilePath ?? 'Dockerfile';
  if (dir !== undefined) {
    const ignoreFile = await readFile(join(dir, `${dockerfile}.dockerignore`), 'utf8').catch(() =>
      readFile(join(dir, '.dockerignore'), 'utf8').catch(() => ''),
    );
    const ig = dockerignore().add(ignoreFile.split('\n'));
    // Without exceptions, nothing under an ignored directory can come back: it need not be read.
    const exceptions = ignoreFile.split('\n').some((l) => l.trim().startsWith('!'));
    const walk = async (rel: string): Promise<void> => {
      for (const name of (await readdir(rel === '' ? dir : join(dir, rel))).sort()) {
        const path = rel === '' ? name : `${rel}/${name}`;
        const st = await lstat(join(dir, path));
        const keep = !ig.ignores(path) || path === dockerfile || path === '.dockerignore';
        const base = { name: path, mode: st.mode & 0o7777, mtime: st.mtime };
        if (st.isDirectory()) {
          // An ignored directory is still walked: a `!` rule may bring files under it back.
          if (keep) await put({ ...base, type: 'directory' });
          if (keep || exceptions) await walk(path);
        } else if (keep && st.isSymbolicLink()) {
          await put({ ...base, type: 'symlink', linkname: await readlink(join(dir, path)) });
        } else if (keep && st.isFile()) {
          await put({ ...base, type: 'file', size: st.size }, await readFile(join(dir, path)));
        }
      }
    };
    await walk('');
  }
  if (opts.dockerfile !== undefined) {
    dockerfile = INLINE_DOCKERFILE;
    await put({ name: posix.dirname(INLINE_DOCKERFILE), type: 'directory', mode: 0o755 });
    await put({ name: INLINE_DOCKERFILE, type: 'file', mode: 0o644 }, Buffer.from(opts.dockerfile));
  }
  return { tar: await finish(), dockerfile };
}

type TarHeader = Parameters<ReturnType<typeof pack>['entry']>[0];

/** Entries into an in-memory tar: `put` one (with a body for files), then `finish` for the bytes. */
export function tarBuilder(): { put(header: TarHeader, body?: Buffer): Promise<void>; finish(): Promise<Uint8Array> } {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  return {
    put: (header, body) =>
      new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => (err ? reject(err) : resolve());
        if (body) p.entry(header, body, cb);
        else p.entry(header, cb);
      }),
    finish: async () => {
      p.finalize();
      await ended;
      return new Uint8Array(Buffer.concat(chunks));
    },
  };
}
