/**
 * @module build-context
 * Receives a build context (a tar stream from the client) into a private directory, strictly: a
 * size and entry limit (413 past them), no absolute names, no `..`, nothing written through a
 * symlink or a hard link to anything outside, only files, directories, symlinks and hard links.
 * Symlinks are stored as they are and never followed here; COPY resolves them inside the context
 * only (copy-sources.ts). `.dockerignore` (or `<Dockerfile>.dockerignore`) then removes what it
 * excludes, with Docker's own matching rules (@balena/dockerignore).
 *
 * Every file's sha256 is taken while it is written: the step cache keys COPY by content.
 */
import dockerignoreModule, { type Ignore } from '@balena/dockerignore';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readFile, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../../errors.js';

/**
 * The package is CommonJS with a `default` export in its types; under NodeNext its default import is
 * the module itself, whose `default` is the factory.
 */
const dockerignore = ((dockerignoreModule as unknown as { default?: unknown }).default ?? dockerignoreModule) as () => Ignore;

/** Entries under this prefix are build inputs (a Dockerfile sent by the CLI or SDK), not context. */
export const RESERVED_PREFIX = '.airlock-build/';

export interface ContextFile {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  /** sha256 of the content (files) or of the link target (symlinks). */
  digest: string;
}

export interface BuildContext {
  dir: string;
  /** Every entry by context-relative path (no leading "./"), after .dockerignore. */
  files: Map<string, ContextFile>;
  dockerfile: string;
}

export interface ContextLimits {
  maxBytes: number;
  maxEntries: number;
}

export function contextError(message: string): AirlockError {
  return new AirlockError(ErrorCode.InvalidRequest, `build context: ${message}`);
}

/** Unpacks the context tar into `dir` (which must exist and be empty) and reads the Dockerfile at `dockerfilePath`. */
export async function receiveContext(tar: Readable, dir: string, dockerfilePath: string, limits: ContextLimits): Promise<BuildContext> {
  const files = new Map<string, ContextFile>();
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (received > limits.maxBytes) {
        done(
          new AirlockError(
            ErrorCode.PayloadTooLarge,
            `the build context is over the ${limits.maxBytes}-byte limit; exclude what the build does not need in .dockerignore`,
          ),
        );
        return;
      }
      done(null, chunk);
    },
  });
  const parser = extract();
  tar.on('error', (e) => meter.destroy(e));
  meter.on('error', (e) => parser.destroy(e));
  tar.pipe(meter).pipe(parser);
  try {
    for await (const entry of parser) {
      try {
        await unpackEntry(dir, files, entry.header, entry as unknown as AsyncIterable<Buffer>);
      } finally {
        entry.resume();
      }
      if (files.size > limits.maxEntries) throw new AirlockError(ErrorCode.PayloadTooLarge, `the build context has more than ${limits.maxEntries} entries`);
    }
  } catch (e) {
    if (e instanceof AirlockError) throw e;
    throw contextError(`the body is not a readable tar archive (${(e as Error).message})`);
  }
  const dockerfile = await readContextText(dir, files, cleanName(dockerfilePath) ?? 'Dockerfile', 'the Dockerfile');
  await applyDockerignore(dir, files, dockerfilePath);
  for (const p of [...files.keys()]) if (p === RESERVED_PREFIX.slice(0, -1) || p.startsWith(RESERVED_PREFIX)) files.delete(p);
  return { dir, files, dockerfile };
}

type Header = { name: string; type?: string | null; mode?: number | null; size?: number | null; linkname?: string | null };

async function unpackEntry(dir: string, files: Map<string, ContextFile>, h: Header, body: AsyncIterable<Buffer>): Promise<void> {
  const rel = cleanName(h.name);
  if (rel === undefined) throw contextError(`entry ${JSON.stringify(h.name)} is an absolute path or leaves the context with ..`);
  if (rel === '') return;
  const parent = posix.dirname(rel);
  if (parent !== '.') await ensureDirs(dir, files, parent);
  const path = join(dir, rel);
  await removeExisting(path, files, rel);
  const mode = (h.mode ?? 0o644) & 0o7777;
  switch (h.type ?? 'file') {
    case 'file':
    case 'contiguous-file': {
      const fd = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of body) {
          hash.update(chunk);
          size += chunk.length;
          await fd.write(chunk);
        }
      } finally {
        await fd.close();
      }
      files.set(rel, { type: 'file', mode, size, digest: hash.digest('hex') });
      return;
    }
    case 'directory':
      await mkdir(path, { mode: 0o700 });
      files.set(rel, { type: 'directory', mode, size: 0, digest: '' });
      return;
    case 'symlink': {
      const target = h.linkname ?? '';
      if (target.includes('\0')) throw contextError(`symlink ${rel} has a NUL byte in its target`);
      await symlink(target, path);
      files.set(rel, { type: 'symlink', mode: 0o777, size: 0, digest: createHash('sha256').update(target).digest('hex') });
      return;
    }
    case 'link': {
      const target = cleanName(h.linkname ?? '');
      const t = target === undefined ? undefined : files.get(target);
      if (target === undefined || t?.type !== 'file')
        throw contextError(`hard link ${rel} must point at a regular file earlier in the context (it points at ${JSON.stringify(h.linkname)})`);
      await link(join(dir, target), path);
      files.set(rel, { ...t, mode });
      return;
    }
    default:
      throw contextError(`entry ${rel} is a ${h.type}; a context holds only files, directories and links`);
  }
}

/** A context-relative name without "./", or undefined when it is absolute or climbs out. */
export function cleanName(name: string): string | undefined {
  if (name.includes('\0') || name.startsWith('/')) return undefined;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts.join('/');
}

/** Creates the parents of an entry; each must be a real directory of the context, never a symlink. */
async function ensureDirs(dir: string, files: Map<string, ContextFile>, rel: string): Promise<void> {
  let sofar = '';
  for (const part of rel.split('/')) {
    sofar = sofar === '' ? part : `${sofar}/${part}`;
    const st = await lstat(join(dir, sofar)).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) throw contextError(`entry under ${sofar} would be written through a ${st.isSymbolicLink() ? 'symlink' : 'file'}`);
    await mkdir(join(dir, sofar), { mode: 0o700 });
    files.set(sofar, { type: 'directory', mode: 0o755, size: 0, digest: '' });
  }
}

async function removeExisting(path: string, files: Map<string, ContextFile>, rel: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) {
    // A directory entry repeated (common in tars) keeps its content.
    return;
  }
  await rm(path, { force: true });
  files.delete(rel);
}

async function readContextText(dir: string, files: Map<string, ContextFile>, rel: string, what: string): Promise<string> {
  const f = files.get(rel);
  if (f?.type !== 'file') throw contextError(`${what} ${JSON.stringify(rel)} is not a file in the context`);
  if (f.size > 1024 * 1024) throw contextError(`${what} ${JSON.stringify(rel)} is over 1 MiB`);
  return readFile(join(dir, rel), 'utf8');
}

async function applyDockerignore(dir: string, files: Map<string, ContextFile>, dockerfilePath: string): Promise<void> {
  const df = cleanName(dockerfilePath) ?? 'Dockerfile';
  const candidates = [`${df}.dockerignore`, '.dockerignore'];
  const source = candidates.find((c) => files.get(c)?.type === 'file');
  if (source === undefined) return;
  const ig = dockerignore().add((await readContextText(dir, files, source, '.dockerignore')).split('\n'));
  const kept = new Set<string>();
  for (const [p, f] of files) {
    if (f.type === 'directory' || ig.ignores(p)) continue;
    kept.add(p);
    for (let d = posix.dirname(p); d !== '.'; d = posix.dirname(d)) kept.add(d);
  }
  // Longest paths first, so a directory goes after what it held.
  for (const p of [...files.keys()].sort((a, b) => b.length - a.length)) {
    if (kept.has(p) || (files.get(p)!.type === 'directory' && !ig.ignores(p))) continue;
    await rm(join(dir, p), { recursive: true, force: true });
    files.delete(p);
  }
}
