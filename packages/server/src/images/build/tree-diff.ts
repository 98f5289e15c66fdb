/**
 * @module tree-diff
 * What a build step changed: walks the step's root (a btrfs snapshot of its parent layer, written
 * by the step) next to the parent layer and yields every difference, depth first, names in byte
 * order, so the layer written from it is the same for the same change.
 *
 * How a change is seen: a btrfs snapshot keeps every inode number and every ctime, and ctime cannot
 * be set from user space, so an entry is unchanged only if inode, ctime, mtime, size, mode, owner
 * and link count are all equal. A file changed and then given back its old content and mtime still
 * has a new ctime. A directory with a new inode was removed and made again: it is "replaced" (an
 * opaque directory in the layer), and everything under it is new.
 *
 * Nothing is ever followed: names and metadata come from one walk of each tree by GNU find
 * (host/tree-stat.ts), which never follows a symlink. Both trees must be at rest (no process of a
 * sandbox runs in either) while they are read.
 */
import { posix } from 'node:path';
import { statTree, type EntryStat } from '../../host/tree-stat.js';

export type Change =
  /** New, or changed in place: the entry as it is in the step's root. */
  | { kind: 'add' | 'modify'; path: string; stat: EntryStat }
  /** A directory made anew where the parent had one: its old content is hidden. */
  | { kind: 'replace'; path: string; stat: EntryStat }
  /** Gone from the step's root (not descended into). */
  | { kind: 'delete'; path: string };

export interface DiffOptions {
  /**
   * Entries the runtime made and the step did not (mount points such as /proc, the agent's
   * /.airlock): skipped when this returns true for an entry new in the step's root.
   */
  runtimeArtifact?: (path: string, stat: EntryStat) => boolean;
  /** The project building, whose CPU the walks of both trees are (host/cgroups.ts chargeTo). */
  project?: string | undefined;
}

export interface TreeDiff {
  changes: Change[];
  /** Every entry of the step's root, for the parents of changes. */
  upper: Map<string, EntryStat>;
}

/** Root-relative paths without a leading slash; "" is the root itself. */
export async function diffTrees(lower: string | undefined, upper: string, opts: DiffOptions = {}): Promise<TreeDiff> {
  const [u, l] = await Promise.all([
    statTree(upper, opts.project),
    lower === undefined ? Promise.resolve(new Map<string, EntryStat>()) : statTree(lower, opts.project),
  ]);
  const uKids = children(u);
  const lKids = children(l);
  const changes: Change[] = [];
  const rootUpper = u.get('')!;
  const rootLower = l.get('');
  if (rootLower && metadataChanged(rootLower, rootUpper)) changes.push({ kind: 'modify', path: '', stat: rootUpper });

  const walk = (rel: string, lowerHasDir: boolean) => {
    const names = [...new Set([...(uKids.get(rel) ?? []), ...(lowerHasDir ? (lKids.get(rel) ?? []) : [])])].sort(byteOrder);
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const us = u.get(path);
      const ls = lowerHasDir ? l.get(path) : undefined;
      if (!us) {
        changes.push({ kind: 'delete', path });
        continue;
      }
      if (path.includes('\uFFFD')) throw new Error(`the file name ${JSON.stringify(path)} is not valid UTF-8; Airlock cannot commit it`);
      if (!ls) {
        if (opts.runtimeArtifact?.(path, us)) continue;
        changes.push({ kind: 'add', path, stat: us });
        if (us.type === 'dir') walk(path, false);
        continue;
      }
      if (us.type === 'dir' && ls.type === 'dir') {
        if (us.ino !== ls.ino) {
          changes.push({ kind: 'replace', path, stat: us });
          walk(path, false);
          continue;
        }
        if (metadataChanged(ls, us)) changes.push({ kind: 'modify', path, stat: us });
        walk(path, true);
        continue;
      }
      if (us.type === 'dir') {
        // A file became a directory: the new directory and all of it.
        changes.push({ kind: 'add', path, stat: us });
        walk(path, false);
        continue;
      }
      if (ls.type !== us.type || contentChanged(ls, us)) changes.push({ kind: 'modify', path, stat: us });
    }
  };
  walk('', rootLower !== undefined);
  return { changes, upper: u };
}

function children(stats: Map<string, EntryStat>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const path of stats.keys()) {
    if (path === '') continue;
    const parent = posix.dirname(path);
    const key = parent === '.' ? '' : parent;
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push(posix.basename(path));
  }
  return out;
}

function metadataChanged(a: EntryStat, b: EntryStat): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtime !== b.mtime || a.ctime !== b.ctime;
}

function contentChanged(a: EntryStat, b: EntryStat): boolean {
  return a.ino !== b.ino || a.size !== b.size || a.nlink !== b.nlink || metadataChanged(a, b);
}

/** Byte order of the UTF-8 names, so the order does not depend on the locale or UTF-16. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
