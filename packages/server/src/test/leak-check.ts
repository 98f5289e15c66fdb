/**
 * Run after the suite (scripts/test.sh): fails if anything of ours is left on the host — a network
 * namespace, veth or nft table of a sandbox network, a runtime
 * container, a cgroup, a shim or sandbox process, a mount — for any sandbox a test created. With
 * --clean it then removes what it found (by pid and by id, never by name pattern) so that the
 * machine is usable for the next run, and still fails.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { removeSandboxCgroups, sandboxCgroupDirs } from '../host/cgroups.js';
import { runCommand } from '../host/command.js';
import { deleteSandboxLink, listLinks, listNetns } from '../host/netns.js';
import { nftAvailable, nftDeleteTable, nftTables } from '../host/nft.js';
import { processesMatching } from './host-probe.js';

const root = process.env.AIRLOCK_TEST_ROOT ?? '/tmp/airlock-test';
const clean = process.argv.includes('--clean');
const problems: string[] = [];

const ledger = existsSync(join(root, 'ledger')) ? readFileSync(join(root, 'ledger'), 'utf8').split('\n').filter(Boolean) : [];
// Servers also create sandboxes no test asked for (warm pools): every data dir's store names them.
const stored: string[] = [];
if (existsSync(root)) {
  for (const d of readdirSync(root)) {
    const db = join(root, d, 'db', 'airlock.db');
    if (!existsSync(db)) continue;
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      stored.push(...(conn.prepare('SELECT id FROM sandboxes').all() as { id: string }[]).map((r) => r.id));
    } finally {
      conn.close();
    }
  }
}
const ids = [...new Set([...ledger, ...stored])];

const stateDirs: [string, string][] = [];
if (existsSync(root)) {
  for (const d of readdirSync(root)) {
    for (const [bin, name] of [['runc', 'runc'], ['runsc', 'gvisor']] as const) {
      const state = join(root, d, 'runtime', name, 'state');
      if (existsSync(state)) stateDirs.push([bin, state]);
    }
  }
}

for (const [bin, state] of stateDirs) {
  const r = await runCommand([bin, '--root', state, 'list', '--format', 'json']);
  const containers = (JSON.parse(r.stdout || 'null') as { id: string }[] | null) ?? [];
  for (const c of containers) {
    problems.push(`${bin} container ${c.id} left in ${state}`);
    if (clean) await runCommand([bin, '--root', state, 'delete', '--force', c.id]);
  }
}

for (const p of processesMatching((cmd) => cmd.includes(`${root}/`) || ids.some((id) => cmd.includes(id)))) {
  problems.push(`process ${p.pid} left: ${p.cmd.slice(0, 200)}`);
  if (clean) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

const mounts: string[] = [];
for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
  if (line.includes(`${root}/`)) {
    problems.push(`mount left: ${line}`);
    mounts.push(line.split(' ')[4]!);
  }
}
// Deepest first: sandbox rootfs mounts before the image store volume they live on.
if (clean) for (const m of mounts.sort((a, b) => b.length - a.length)) await runCommand(['umount', '-l', m]);

if (clean) await new Promise((r) => setTimeout(r, 500));
for (const id of ids) {
  for (const dir of sandboxCgroupDirs(id)) {
    problems.push(`cgroup left: ${dir}`);
  }
  if (clean) removeSandboxCgroups(id);
}

// Sandbox networks: each server instance's (and each network test's) tag names its nft table,
// host veths and namespaces; nothing of any of them may be left.
const tags = new Set(existsSync(join(root, 'network-tags')) ? readFileSync(join(root, 'network-tags'), 'utf8').split('\n').filter(Boolean) : []);
if (existsSync(root)) {
  for (const d of readdirSync(root)) {
    const f = join(root, d, 'runtime', 'network.json');
    if (existsSync(f)) tags.add((JSON.parse(readFileSync(f, 'utf8')) as { tag: string }).tag);
  }
}
const tables = tags.size > 0 && (await nftAvailable()) ? await nftTables('airlock_') : [];
for (const tag of tags) {
  for (const link of listLinks(`al${tag}`)) {
    problems.push(`veth left: ${link}`);
    if (clean) await deleteSandboxLink({ hostVeth: link, netns: '' });
  }
  for (const ns of listNetns(`al${tag}-`)) {
    problems.push(`network namespace left: ${ns}`);
    if (clean) await deleteSandboxLink({ hostVeth: '', netns: ns });
  }
  if (tables.includes(`airlock_${tag}`)) {
    problems.push(`nft table left: inet airlock_${tag}`);
    if (clean) await nftDeleteTable(`airlock_${tag}`);
  }
}

if (problems.length > 0) {
  process.stderr.write(`leak check: ${problems.length} thing(s) left behind by the suite:\n  ${problems.join('\n  ')}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(`leak check: nothing left of ${ids.length} sandboxes created by the suite\n`);
  if (clean || process.argv.includes('--remove-root')) rmSync(root, { recursive: true, force: true });
}
