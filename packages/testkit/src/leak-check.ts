/**
 * Run after the suite (scripts/test.sh): fails if anything of ours is left on the host — a runtime
 * container, a cgroup, a shim or sandbox process, a mount — for any sandbox a test created; and,
 * beyond the ids it knows (leak-scan.ts), btrfs subvolumes in the run's image volumes, loop devices
 * backed by files under the test root, network namespaces, nft tables and host veths named after
 * the run's data dirs, and cgroups under /airlock that appeared during the run and that nothing on
 * this machine knows.
 *
 * With --clean it then removes what it can attribute to this run (by pid, by id, by a path under
 * the test root or a name derived from its data dirs; never by a broad pattern) so that the machine
 * is usable for the next run, and still fails. Unknown cgroups are only reported: that they are
 * ours is an inference, and another run's are not ours to delete.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeSandboxCgroups, sandboxCgroupDirs } from '@airlock/server/internal/host/cgroups.js';
import { runCommand } from '@airlock/server/internal/host/command.js';
import { processesMatching } from './host-probe.js';
import { idsKnownAnywhere, idsKnownTo, leftSubvolumes, loopDevicesUnder, mountsUnder, networkLeftovers, runStartMs, unknownCgroups } from './leak-scan.js';

const root = process.env.AIRLOCK_TEST_ROOT ?? '/tmp/airlock-test';
const clean = process.argv.includes('--clean');
const problems: string[] = [];
const ids = existsSync(root) ? [...new Set(idsKnownTo(root))] : [];

const stateDirs: [string, string][] = [];
if (existsSync(root)) {
  for (const d of readdirSync(root)) {
    for (const [bin, name] of [
      ['runc', 'runc'],
      ['runsc', 'gvisor'],
    ] as const) {
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

const mounts = mountsUnder(root);
for (const m of mounts) problems.push(`mount left: ${m.line}`);
const subvolumes = leftSubvolumes(mounts);
for (const s of subvolumes) problems.push(`btrfs subvolume left: ${s}`);
// A loop device is detached asynchronously after the unmount of its volume (autoclear): give it a moment.
let loops = loopDevicesUnder(root);
for (let waited = 0; loops.length > 0 && mounts.length === 0 && waited < 3000; waited += 100) {
  await new Promise((r) => setTimeout(r, 100));
  loops = loopDevicesUnder(root);
}
for (const l of loops) problems.push(`loop device left: ${l.device} backed by ${l.file}`);
if (clean) {
  // Deepest first, whole volumes last: sandbox rootfs mounts, then the snapshots they showed, then
  // the image volumes those live in (whose loop devices go with them: autoclear).
  const isVolume = (m: (typeof mounts)[0]) => m.fsType === 'btrfs' && m.fsRoot === '/';
  const byDepth = (a: (typeof mounts)[0], b: (typeof mounts)[0]) => b.mountPoint.length - a.mountPoint.length;
  for (const m of mounts.filter((x) => !isVolume(x)).sort(byDepth)) await runCommand(['umount', '-l', m.mountPoint]);
  for (const s of subvolumes) await runCommand(['btrfs', 'subvolume', 'delete', s]);
  for (const m of mounts.filter(isVolume).sort(byDepth)) await runCommand(['umount', '-l', m.mountPoint]);
  await new Promise((r) => setTimeout(r, 500));
  for (const l of loopDevicesUnder(root)) await runCommand(['losetup', '-d', l.device]);
}

const net = await networkLeftovers(root, ids);
for (const n of net.netns) problems.push(`network namespace left: ${n}`);
for (const t of net.tables) problems.push(`nft table left: inet ${t}`);
for (const v of net.veths) problems.push(`host veth left: ${v}`);
if (clean) {
  for (const v of net.veths) await runCommand(['ip', 'link', 'del', v]);
  for (const n of net.netns) await runCommand(['ip', 'netns', 'del', n]);
  for (const t of net.tables) await runCommand(['nft', 'delete', 'table', 'inet', t]);
}

if (clean) await new Promise((r) => setTimeout(r, 500));
for (const id of ids) {
  for (const dir of sandboxCgroupDirs(id)) {
    problems.push(`cgroup left: ${dir}`);
  }
  if (clean) removeSandboxCgroups(id);
}
if (existsSync(root)) {
  for (const dir of unknownCgroups(idsKnownAnywhere(root), runStartMs(root), root)) {
    problems.push(`cgroup left that no store or ledger on this host knows, made during this run: ${dir} (not removed: remove it by hand if it is ours)`);
  }
}

if (problems.length > 0) {
  process.stderr.write(`leak check: ${problems.length} thing(s) left behind by the suite:\n  ${problems.join('\n  ')}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(`leak check: nothing left of ${ids.length} sandboxes created by the suite\n`);
  if (clean || process.argv.includes('--remove-root')) rmSync(root, { recursive: true, force: true });
}
