/**
 * @module xattrs
 * Reads the extended attributes of many files at once with `getfattr` (Debian's attr package),
 * never following symlinks. Node has no xattr API, and one process per thousand files keeps a
 * layer commit's cost small next to reading the files themselves.
 */
import { runCommand } from './command.js';

const BATCH = 1000;

/** Attributes by absolute path; files without any are absent from the map. */
export async function readXattrs(paths: string[]): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  for (let i = 0; i < paths.length; i += BATCH) {
    const batch = paths.slice(i, i + BATCH);
    const r = await runCommand(['getfattr', '--absolute-names', '--no-dereference', '--dump', '--match=-', '--encoding=hex', '--', ...batch], {
      timeoutMs: 120_000,
    });
    // getfattr exits 1 when some file has no attribute support; what it printed is still right.
    if (r.code !== 0 && r.code !== 1) throw new Error(`getfattr failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`);
    let current: Map<string, Buffer> | undefined;
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('# file: ')) {
        current = new Map();
        out.set(unescapeOctal(line.slice('# file: '.length)), current);
        continue;
      }
      const eq = line.indexOf('=0x');
      if (current && eq > 0) current.set(unescapeOctal(line.slice(0, eq)), Buffer.from(line.slice(eq + 3), 'hex'));
    }
  }
  return out;
}

/** getfattr writes unusual bytes of names as \ooo. */
function unescapeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const m = /^\\([0-7]{3})/.exec(s.slice(i, i + 4));
    if (m) {
      bytes.push(parseInt(m[1]!, 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(s[i]!));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
