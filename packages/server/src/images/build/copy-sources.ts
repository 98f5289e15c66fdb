/**
 * @module copy-sources
 * What a COPY or ADD brings into the image, resolved strictly inside its source root (the build
 * context, or another stage's or image's root): `..` never climbs above it, a symlink named as a
 * source is followed inside it only (scoped-path), and symlinks met inside a copied directory are
 * copied as symlinks, never followed. Destinations follow Docker's rules: a trailing `/`, several
 * sources or an existing directory make the destination a directory.
 *
 * The result is a list of entries with their content digests (the step cache's input) and a tar of
 * them, which the layer applier writes into the step's root with its own scoped-path rules.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readlinkSync, lstatSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { minimatch } from 'minimatch';
import { resolveDirectory } from '../scoped-path.js';
import { contextError } from './build-context.js';
import type { TarWriter } from './tar-writer.js';

export interface CopyEntry {
  /** Image path, root-relative, no leading slash. */
  dest: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Host path of the content (files) or undefined. */
  source?: string;
  link?: string;
  /** Content digest (files) or link target digest; "" for directories. */
  digest: string;
  mtime: number;
}

export interface CopyRequest {
  /** Root the sources are read from (context dir, or a stage/image root). */
  root: string;
  sources: string[];
  /** Destination as written, absolute (WORKDIR already applied). */
  dest: string;
  /** Is `dest` an existing directory in the image? */
  destIsDir: (rel: string) => boolean;
  owner: { uid: number; gid: number } | undefined;
  chmod: number | undefined;
  /** mtime given to what is copied (the build's epoch for context files), or undefined to keep the source's. */
  mtime: number | undefined;
  /** Paths of the root that may be read (the context after .dockerignore); undefined: all. */
  visible?: (rel: string) => boolean;
  /** Content digest of a source file by root-relative path, for the cache key (context files); other roots are keyed by their chain id. */
  digestOf?: (rel: string) => string;
  /** The mode a source has (context files: as the client sent it; on disk they are private); undefined: from lstat. */
  modeOf?: (rel: string) => number | undefined;
  /** Used in messages: "build context", "stage build". */
  what: string;
}

const GLOB = /[*?[\\]/;

export function resolveCopy(r: CopyRequest): CopyEntry[] {
  const matched: string[] = [];
  for (const src of r.sources) {
    const clean = cleanSource(src, r.what);
    if (GLOB.test(clean)) {
      const found = globIn(r.root, clean, r.visible);
      if (found.length === 0) throw contextError(`COPY source ${JSON.stringify(src)} matches nothing in the ${r.what}`);
      matched.push(...found);
    } else {
      matched.push(clean);
    }
  }
  const destIsDirectory = r.dest.endsWith('/') || matched.length > 1 || r.sources.length > 1;
  if ((matched.length > 1 || r.sources.length > 1) && !r.dest.endsWith('/')) {
    throw contextError(`when COPY has several sources, the destination must be a directory ending in / (got ${JSON.stringify(r.dest)})`);
  }
  const destRel = posix.normalize(r.dest).replace(/^\/+/, '').replace(/\/+$/, '');
  const entries: CopyEntry[] = [];
  for (const rel of matched) {
    const resolved = rel === '' ? '' : resolveDirectory(r.root, rel);
    const st = lstatSync(join(r.root, resolved), { throwIfNoEntry: false });
    if (!st) throw contextError(`COPY source ${JSON.stringify(rel)} does not exist in the ${r.what}`);
    if (r.visible && resolved !== '' && !r.visible(resolved))
      throw contextError(`COPY source ${JSON.stringify(rel)} is excluded from the ${r.what} by .dockerignore`);
    if (st.isDirectory()) {
      walk(r, resolved, destRel, entries);
    } else {
      const name = posix.basename(rel === '' ? resolved : rel);
      const target = destIsDirectory || r.destIsDir(destRel) ? posix.join(destRel, name) : destRel;
      if (target === '') throw contextError('COPY cannot replace the root directory with a file');
      entries.push(entryOf(r, resolved, target, st));
    }
  }
  for (const e of entries) {
    const base = posix.basename(e.dest);
    if (base.startsWith('.wh.'))
      throw contextError(`${JSON.stringify(e.dest)}: names starting with .wh. are layer whiteouts and cannot be copied into an image`);
  }
  return entries;
}

function cleanSource(src: string, what: string): string {
  const parts: string[] = [];
  for (const p of src.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) throw contextError(`COPY source ${JSON.stringify(src)} is outside the ${what}`);
      parts.pop();
    } else parts.push(p);
  }
  return parts.join('/');
}

/** Paths matching a glob (Go's filepath.Match: `*` within one segment, dotfiles included). */
function globIn(root: string, pattern: string, visible: ((rel: string) => boolean) | undefined): string[] {
  const depth = pattern.split('/').length;
  const out: string[] = [];
  const walkNames = (rel: string, level: number) => {
    const dir = rel === '' ? root : join(root, rel);
    for (const name of readdirSync(dir).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (visible && !visible(path)) continue;
      if (level === depth) {
        if (minimatch(path, pattern, { dot: true, noglobstar: true, nobrace: true, noext: true, nonegate: true, nocomment: true })) out.push(path);
      } else if (lstatSync(join(root, path)).isDirectory()) {
        walkNames(path, level + 1);
      }
    }
  };
  walkNames('', 1);
  return out;
}

/** A directory's content under `dest`; symlinks inside are entries, never followed. */
function walk(r: CopyRequest, srcRel: string, destRel: string, out: CopyEntry[]): void {
  const srcDir = srcRel === '' ? r.root : join(r.root, srcRel);
  if (destRel !== '' && !r.destIsDir(destRel)) out.push(entryOf(r, srcRel, destRel, lstatSync(srcDir), 0o755));
  addChildren(r, srcRel, destRel, out);
}

function addChildren(r: CopyRequest, srcRel: string, destRel: string, out: CopyEntry[]): void {
  for (const name of readdirSync(srcRel === '' ? r.root : join(r.root, srcRel)).sort()) {
    const s = srcRel === '' ? name : `${srcRel}/${name}`;
    if (r.visible && !r.visible(s)) continue;
    const d = destRel === '' ? name : `${destRel}/${name}`;
    const st = lstatSync(join(r.root, s));
    if (st.isDirectory()) {
      out.push(entryOf(r, s, d, st));
      addChildren(r, s, d, out);
    } else if (st.isFile() || st.isSymbolicLink()) {
      out.push(entryOf(r, s, d, st));
    }
  }
}

/** Owned by root (or --chown) as in Docker, whatever the source's owner. */
function entryOf(r: CopyRequest, srcRel: string, dest: string, st: Stats, directoryMode?: number): CopyEntry {
  const host = srcRel === '' ? r.root : join(r.root, srcRel);
  const owner = r.owner ?? { uid: 0, gid: 0 };
  const mode = r.chmod ?? directoryMode ?? r.modeOf?.(srcRel) ?? st.mode & 0o7777;
  const mtime = r.mtime ?? Math.floor(st.mtimeMs / 1000);
  if (st.isSymbolicLink()) {
    const link = readlinkSync(host);
    return { dest, type: 'symlink', mode: 0o777, ...owner, size: 0, link, digest: sha256(link), mtime };
  }
  if (st.isDirectory()) return { dest, type: 'directory', mode, ...owner, size: 0, digest: '', mtime };
  return { dest, type: 'file', mode, ...owner, size: st.size, source: host, digest: r.digestOf?.(srcRel) ?? '', mtime };
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Writes the entries as a tar for the layer applier. */
export async function writeCopyTar(entries: CopyEntry[], tar: TarWriter): Promise<void> {
  for (const e of entries) {
    const h = { name: e.dest, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0 };
    if (e.type === 'directory') await tar.entry({ ...h, type: 'directory' });
    else if (e.type === 'symlink') await tar.entry({ ...h, type: 'symlink', linkname: e.link! });
    else await tar.entry({ ...h, type: 'file', size: e.size }, createReadStream(e.source!));
  }
  await tar.finish();
}
