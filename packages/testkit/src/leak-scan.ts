/**
 * @module leak-scan
 * What the leak check (leak-check.ts) looks for beyond the sandboxes it knows by id: host objects
 * that the suite's own data dirs and naming identify as this run's — btrfs subvolumes in its image
 * volumes, loop devices backed by files under its test root, network namespaces, nft tables and
 * host veths named after its data dirs — and cgroups under /airlock that appeared during the run
 * and that no store or ledger on this machine knows.
 *
 * Other engineers run sandboxes on this machine at the same time, so "unknown" is scoped by what
 * this run can tell apart. What it cannot tell apart (said where it matters below): an empty cgroup
 * of another run whose store and ledger are gone (its data dir removed, or kept outside /tmp and
 * /var/lib/airlock) looks like ours;
 * the network rigs of tests (`ri<hex>` namespaces) are random names that carry no run, so they
 * are not checked here (their tests remove them in `after`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CGROUP_PARENT, OPS_LEAF, PROJECT_LEVEL_PREFIX, cgroupVersion } from '@airlock/server/internal/host/cgroups.js';
import { runCommand } from '@airlock/server/internal/host/command.js';

/** Sandbox ids in a test root: its ledger (every id a test created) and every data dir's store (warm pools too). */
export function idsKnownTo(root: string): string[] {
  const ids: string[] = [];
  try {
    ids.push(...readFileSync(join(root, 'ledger'), 'utf8').split('\n').filter(Boolean));
  } catch {
    // no ledger: nothing created through the harness
  }
  for (const d of safeList(root)) ids.push(...storedIds(join(root, d, 'db', 'airlock.db')));
  return ids;
}

function storedIds(db: string): string[] {
  if (!existsSync(db)) return [];
  try {
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return (conn.prepare('SELECT id FROM sandboxes').all() as { id: string }[]).map((r) => r.id);
    } finally {
      conn.close();
    }
  } catch {
    return []; // a store being created or removed by its own run right now
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every id any Airlock on this machine knows: other test roots, data dirs in /tmp, the default data dir, and ours. */
export function idsKnownAnywhere(root: string): Set<string> {
  const dirs = safeList('/tmp')
    .filter((d) => d.startsWith('airlock-'))
    .map((d) => join('/tmp', d));
  return new Set([
    ...idsKnownTo(root),
    ...dirs.flatMap(idsKnownTo),
    ...dirs.flatMap((d) => storedIds(join(d, 'db', 'airlock.db'))),
    ...storedIds('/var/lib/airlock/db/airlock.db'),
  ]);
}

/** A cgroup with processes none of which names the root is someone else's live sandbox (started from another data dir). */
function livesElsewhere(dir: string, root: string): boolean {
  let pids: string[];
  try {
    pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return false;
  }
  if (pids.length === 0) return false;
  return !pids.some((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${root}/`);
    } catch {
      return false;
    }
  });
}

/** When this run started: the test root's birth (its change time where the filesystem has no birth time). */
export function runStartMs(root: string): number {
  const st = statSync(root);
  return st.birthtimeMs > 0 ? st.birthtimeMs : st.ctimeMs;
}

/**
 * Cgroups under /airlock created after `sinceMs` whose id no store or ledger on this machine knows,
 * and whose processes (if any) do not run from the test root: made during the run by code that never
 * recorded them. Reported, never removed: that they are ours
 * is an inference (see the module doc), and a cgroup of someone else's is not ours to delete.
 */
export function unknownCgroups(known: Set<string>, sinceMs: number, root: string): string[] {
  const parents = cgroupVersion() === 2 ? ['/sys/fs/cgroup/airlock'] : safeList('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c, CGROUP_PARENT));
  const out: string[] = [];
  const made = (dir: string) => statSync(dir).isDirectory() && statSync(dir).ctimeMs >= sinceMs;
  for (const p of parents) {
    for (const name of safeList(p)) {
      const dir = join(p, name);
      try {
        if (name.startsWith(PROJECT_LEVEL_PREFIX)) {
          // A project level: its sandboxes are judged like flat ones; one left empty (or with its ops leaf only) is a leak of its own.
          const ids = safeList(dir).filter((e) => e !== OPS_LEAF && statSync(join(dir, e)).isDirectory());
          if (ids.length === 0 && made(dir)) out.push(dir);
          for (const id of ids) if (!known.has(id) && made(join(dir, id)) && !livesElsewhere(join(dir, id), root)) out.push(join(dir, id));
          continue;
        }
        // cgroupfs sets a directory's change time when it is made (it has no birth time).
        if (made(dir) && !known.has(name) && !livesElsewhere(dir, root)) out.push(dir);
      } catch {
        // removed while we looked
      }
    }
  }
  return out;
}

/** Loop devices whose backing file lies under the test root (the image volumes are loop-mounted files). */
export function loopDevicesUnder(root: string): { device: string; file: string }[] {
  const out: { device: string; file: string }[] = [];
  for (const dev of safeList('/sys/block').filter((d) => d.startsWith('loop'))) {
    try {
      const file = readFileSync(`/sys/block/${dev}/loop/backing_file`, 'utf8')
        .trim()
        .replace(/ \(deleted\)$/, '');
      if (file.startsWith(`${root}/`)) out.push({ device: `/dev/${dev}`, file });
    } catch {
      // not attached
    }
  }
  return out;
}

export interface MountEntry {
  mountPoint: string;
  /** The path inside the filesystem that is mounted: `/` for a whole volume, a subvolume for a bind. */
  fsRoot: string;
  fsType: string;
  line: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function mountsUnder(root: string): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(`${root}/`))
    .map((line) => {
      const f = line.split(' ');
      return { mountPoint: unescape(f[4] ?? ''), fsRoot: unescape(f[3] ?? ''), fsType: f[f.indexOf('-') + 1] ?? '', line };
    });
}

/**
 * Subvolumes left in the image volumes still mounted under the root: a sandbox's snapshot
 * (fs/sandboxes/<id>) or a half-made layer (fs/tmp/*). A volume that is not mounted was closed
 * with no sandbox snapshot in it (the snapshotter unmounts only then; a crash leaves it mounted).
 */
export function leftSubvolumes(mounts: MountEntry[]): string[] {
  const volumes = mounts.filter((m) => m.fsType === 'btrfs' && m.fsRoot === '/');
  return volumes.flatMap((v) => ['sandboxes', 'tmp'].flatMap((d) => safeList(join(v.mountPoint, d)).map((e) => join(v.mountPoint, d, e))));
}

/**
 * The network instance tag of a data dir: the first six hex digits of the SHA-256 of its path, as
 * network/address-plan.ts derives it (unless a server was configured with another tag, which no
 * test does). It names the server's nft table (`airlock_<tag>`), host veths (`al<tag>…`) and
 * namespaces (`al<tag>-<sandbox id>`).
 */
export function instanceTag(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 6);
}

export interface NetworkLeftovers {
  netns: string[];
  tables: string[];
  veths: string[];
}

/**
 * The tags of the run: derived from each data dir's path, and recorded ones where a server or a
 * network test wrote them (`<data dir>/runtime/network.json`, `<root>/network-tags`: the network
 * branch records them there, which also covers a tag configured by hand).
 */
function runTags(root: string): string[] {
  const tags = new Set(safeList(root).map((d) => instanceTag(join(root, d))));
  try {
    for (const t of readFileSync(join(root, 'network-tags'), 'utf8').split('\n')) if (/^[0-9a-f]{6}$/.test(t)) tags.add(t);
  } catch {
    // no network test recorded a tag
  }
  for (const d of safeList(root)) {
    try {
      const tag = (JSON.parse(readFileSync(join(root, d, 'runtime', 'network.json'), 'utf8')) as { tag?: unknown }).tag;
      if (typeof tag === 'string' && /^[0-9a-f]{6}$/.test(tag)) tags.add(tag);
    } catch {
      // no network state in this data dir
    }
  }
  return [...tags];
}

export async function networkLeftovers(root: string, ids: string[]): Promise<NetworkLeftovers> {
  const tags = runTags(root);
  const ours = (name: string) => tags.some((t) => name.startsWith(`al${t}`)) || ids.some((id) => name.endsWith(id));
  const netns = safeList('/run/netns').filter(ours);
  const veths = safeList('/sys/class/net').filter((n) => tags.some((t) => n.startsWith(`al${t}`)));
  const listed = await runCommand(['nft', 'list', 'tables'], { timeoutMs: 30_000 }).catch(() => ({ stdout: '' }));
  const tables = listed.stdout
    .split('\n')
    .map((l) => /^table inet (airlock_[0-9a-f]{6})$/.exec(l.trim())?.[1])
    .filter((t): t is string => t !== undefined && tags.includes(t.slice('airlock_'.length)));
  return { netns, tables, veths };
}
