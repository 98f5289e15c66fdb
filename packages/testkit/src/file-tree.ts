/**
 * @module file-tree
 * Test support: a directory tree as a comparable map (path → type, mode, owner, size, content
 * hash, link target, optionally mtime), never following a symlink. Used to judge that a layer
 * re-applied gives the tree it was made from, and that Airlock and buildah build the same files.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  uid: number;
  gid: number;
  sha256?: string;
  link?: string;
  mtime?: number;
}

export function fileTree(root: string, opts: { mtimes?: boolean; skip?: (path: string) => boolean } = {}): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (opts.skip?.(path)) continue;
      const st = lstatSync(join(root, path));
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      const e: TreeEntry = { type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
      if (type === 'file')
        e.sha256 = createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex');
      if (type === 'symlink') e.link = readlinkSync(join(root, path));
      if (opts.mtimes && type !== 'symlink') e.mtime = Math.floor(st.mtimeMs / 1000);
      out.set(path, e);
      if (type === 'dir') walk(path);
    }
  };
  walk('');
  return out;
}

/** Human-readable differences between two trees (empty when equal), at most `limit` lines. */
export function treeDifferences(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>, limit = 40): string[] {
  const out: string[] = [];
  for (const [p, e] of a) {
    const f = b.get(p);
    if (!f) out.push(`only in the first: ${p}`);
    else if (JSON.stringify(e) !== JSON.stringify(f)) out.push(`${p}: ${JSON.stringify(e)} != ${JSON.stringify(f)}`);
  }
  for (const p of b.keys()) if (!a.has(p)) out.push(`only in the second: ${p}`);
  return out.slice(0, limit);
}
