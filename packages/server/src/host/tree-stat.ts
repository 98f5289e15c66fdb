/**
 * @module tree-stat
 * The metadata of every entry of a directory tree at once, from GNU find (never following a
 * symlink, never leaving the tree's filesystem): inode, ctime and mtime to the nanosecond, size,
 * mode, owner, link count and type. One C process walks a 50,000-file root in a fraction of the
 * time a walk through Node's thread pool takes, and keeps the event loop free meanwhile.
 */
import { spawnFor } from './command.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

export interface EntryStat {
  ino: number;
  /** As find prints them ("seconds.fraction", to the nanosecond): compared as text, parsed when needed. */
  ctime: string;
  mtime: string;
  size: number;
  /** Permission bits, setuid/setgid/sticky included (no type bits). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  type: EntryType;
}

const TYPES: Record<string, EntryType> = { f: 'file', d: 'dir', l: 'symlink', p: 'fifo', s: 'socket', c: 'char', b: 'block' };
const MAX_OUTPUT = 1024 * 1024 * 1024;

/** Every entry under `root` by root-relative path ("" is the root itself); the walk is charged to `project` (a build's). */
export function statTree(root: string, project?: string): Promise<Map<string, EntryStat>> {
  return new Promise((resolve, reject) => {
    const child = spawnFor(project, ['find', root, '-xdev', '-printf', '%i %C@ %T@ %s %m %U %G %n %y %P\\0']);
    child.stdin.end(); // find reads nothing
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_OUTPUT) child.kill('SIGKILL');
      else chunks.push(c);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0)
        return reject(new Error(`find ${root} failed (${code ?? 'killed'}): ${stderr.trim() || (size > MAX_OUTPUT ? 'the tree is too large' : '')}`));
      const out = new Map<string, EntryStat>();
      for (const record of Buffer.concat(chunks).toString('utf8').split('\0')) {
        if (record === '') continue;
        const f = record.split(' ');
        out.set(f.slice(9).join(' '), {
          ino: Number(f[0]),
          ctime: f[1]!,
          mtime: f[2]!,
          size: Number(f[3]),
          mode: parseInt(f[4]!, 8),
          uid: Number(f[5]),
          gid: Number(f[6]),
          nlink: Number(f[7]),
          type: TYPES[f[8]!] ?? 'file',
        });
      }
      resolve(out);
    });
  });
}

/** A time as find prints it ("1796166954.2946745940") in nanoseconds. */
export function nanoseconds(s: string): bigint {
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
}
