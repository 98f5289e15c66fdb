/**
 * The microVM runtime beyond the shared conformance suite: how QEMU is confined on the host, a
 * server restart, the network attachment, and bad input (no kernel, too much RAM, a guest that does
 * not boot). Everything is judged on the host.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { AGENT_BINARY } from '@airlock/agent';
import { pino } from 'pino';
import { loadConfig } from '../../config.js';
import { sandboxCgroupPids } from '../../host/cgroups.js';
import type { OciMount } from '../../images/image.js';
import { eventually, newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit/harness.js';
import { isClean, processesMatching, remainsOf } from '@airlock/testkit/host-probe.js';
import { ID_RANGE_BASE } from '../oci-spec.js';
import type { RuntimeSpec } from '../runtime.js';
import { MicrovmRuntime } from './microvm-runtime.js';

const qemuOf = (id: string) => processesMatching((cmd) => cmd.startsWith('qemu-system-x86_64') && cmd.includes(`airlock-${id}`));
const ns = (pid: number | 'self', kind: string) => readlinkSync(`/proc/${pid}/ns/${kind}`);
const statusField = (pid: number, key: string) => new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

describe('microVM: the jail around QEMU, restarts and bad input', { timeout: 900_000 }, () => {
  let t: TestServer;
  let dataDir: string;

  before(async () => {
    dataDir = newDataDir();
    t = await startTestServer(dataDir, { runtimes: ['microvm'] });
  });
  after(async () => {
    await t?.close();
  });

  test('QEMU runs as the sandbox uid, in namespaces of its own, under seccomp, with no capabilities, inside the cgroup', async () => {
    const sb = await t.api.create({ runtime: 'microvm' });
    const [qemu] = qemuOf(sb.id);
    assert.ok(qemu, 'positive control: the sandbox has a QEMU process on the host');
    const uid = Number(statusField(qemu.pid, 'Uid')!.split(/\s+/)[0]);
    assert.ok(uid >= ID_RANGE_BASE, `QEMU's host uid ${uid} is in the unprivileged sandbox range`);
    for (const kind of ['user', 'mnt', 'pid', 'net', 'ipc', 'uts']) assert.notEqual(ns(qemu.pid, kind), ns('self', kind), `QEMU has its own ${kind} namespace`);
    assert.equal(statusField(qemu.pid, 'Seccomp'), '2', 'QEMU runs under its seccomp filter');
    assert.equal(statusField(qemu.pid, 'NoNewPrivs'), '1');
    assert.equal(statusField(qemu.pid, 'CapEff'), '0000000000000000');
    assert.equal(statusField(qemu.pid, 'CapBnd'), '0000000000000000');
    assert.ok(sandboxCgroupPids(sb.id).includes(qemu.pid), 'QEMU is in the sandbox cgroup');
    // What QEMU's root holds: /usr, its VM directory and the kernel's files; no data dir, no host /etc.
    const root = readdirSync(`/proc/${qemu.pid}/root`).sort();
    assert.deepEqual(root, ['bin', 'boot', 'dev', 'etc', 'lib', 'lib64', 'proc', 'usr', 'vm'], `QEMU's root: ${root.join(' ')}`);
    assert.deepEqual(readdirSync(`/proc/${qemu.pid}/root/boot`).sort(), ['initramfs.cpio', 'vmlinuz']);
    assert.deepEqual(readdirSync(`/proc/${qemu.pid}/root/etc`), ['ld.so.cache']);
    assert.ok(!existsSync(`/proc/${qemu.pid}/root${dataDir}`), 'the data dir is not in the jail');
    const fsd = processesMatching((cmd) => cmd.startsWith('/usr/lib/qemu/virtiofsd') && cmd.includes(join(dataDir, 'vm', sb.id)));
    assert.equal(fsd.length > 0, true, 'positive control: virtiofsd serves the root');
    for (const p of fsd) assert.ok(sandboxCgroupPids(sb.id).includes(p.pid), 'virtiofsd counts against the sandbox cgroup');
    await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    await eventually('the VM to leave nothing', () => (isClean(remainsOf(sb.id, dataDir)) ? true : undefined));
  });

  test('a server restart leaves the VM running and the new server reattaches through the shim', async () => {
    const sb = await t.api.create({ runtime: 'microvm' });
    await t.api.exec(sb.id, { cmd: 'echo kept > /tmp/state' });
    const [qemu] = qemuOf(sb.id);
    await t.server.close(); // not destroyAll: the sandboxes stay for the next server to adopt
    assert.deepEqual(
      qemuOf(sb.id).map((p) => p.pid),
      [qemu!.pid],
      'the VM outlived the server',
    );
    t = await startTestServer(dataDir, { runtimes: ['microvm'] });
    const r = await t.api.exec(sb.id, { cmd: ['cat', '/tmp/state'] });
    assert.equal(r.stdout, 'kept\n');
    await t.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
  });

  test('guest RAM beyond what the host can give answers 400', async () => {
    const small = await startTestServer(newDataDir(), { runtimes: ['microvm'], hostMemoryMiB: 2048, limits: { hostMemoryReserveMiB: 512 } });
    try {
      const r = await small.api.call('POST', '/v1/sandboxes', { runtime: 'microvm', memoryMiB: 4096 });
      assert.deepEqual([r.status, r.body.code], [400, 'invalid_request']);
      assert.match(r.body.message, /more than this host can give/);
    } finally {
      await small.close();
    }
  });

  test('without a guest kernel, microvm answers runtime_unavailable with the reason', async () => {
    const none = await startTestServer(newDataDir(), { runtimes: ['microvm'], vm: { kernel: '/nonexistent/vmlinuz-0.0-cloud-amd64' } });
    try {
      const r = await none.api.call('POST', '/v1/sandboxes', { runtime: 'microvm' });
      assert.equal(r.body.code, 'runtime_unavailable');
      assert.match(r.body.message, /guest kernel .*does not exist/);
      const health = await none.api.call('GET', '/v1/health');
      assert.equal(health.body.runtimes.find((x: { name: string }) => x.name === 'microvm').available, false);
    } finally {
      await none.close();
    }
  });
});

describe('microVM runtime directly: failed boots and the network namespace', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(testRoot(), 'mvm-'));
  // As a data dir is: the jailed QEMU (the sandbox's uid) must reach the initramfs below it.
  chmodSync(dir, 0o711);
  const lines: string[] = [];
  const log = pino({ level: 'info', base: null }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  const vm = loadConfig({ dataDir: dir }, {}).vm;
  const runtime = (boot = vm.bootTimeoutMs) =>
    new MicrovmRuntime({
      stateDir: join(dir, 'runtime', 'microvm'),
      vmRoot: join(dir, 'vm'),
      sharedDir: join(dir, 'images', 'vm'),
      agentBinary: AGENT_BINARY,
      vm: { ...vm, accel: 'tcg', bootTimeoutMs: boot },
      log,
    });
  // A default-image-like root built here: a skeleton, host /usr read-only, tmpfs where it writes.
  const skeleton = join(dir, 'root');
  for (const d of ['usr', 'etc', 'tmp', 'proc', 'dev', 'sys', 'home/user', 'root', 'run', 'var/tmp']) mkdirSync(join(skeleton, d), { recursive: true });
  for (const [l, target] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
    ['sbin', 'usr/sbin'],
  ])
    symlinkSync(target!, join(skeleton, l!));
  const tmpfs = (destination: string): OciMount => ({ destination, type: 'tmpfs', source: 'tmpfs', options: ['mode=1777', 'size=64m'] });
  // A slot far above what a test server hands out, so that no other sandbox has this uid.
  const slot = 4000 + Math.floor(Math.random() * 4000);
  const spec = async (id: string, extra: Partial<RuntimeSpec> = {}): Promise<RuntimeSpec> => ({
    id,
    rootfs: {
      kind: 'directory',
      path: skeleton,
      readonly: true,
      mounts: [{ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] }, tmpfs('/tmp'), tmpfs('/run')],
    },
    cpu: 1,
    memoryMiB: 256,
    pids: 256,
    hostIds: { base: ID_RANGE_BASE + slot * 65_536, size: 65_536 },
    network: { kind: 'none' },
    ...extra,
  });
  const newId = () => `sb-mvmtest${randomBytes(5).toString('hex')}`;

  test('a guest that does not boot within its deadline is destroyed with nothing left, and the log has its console', async () => {
    const rt = runtime({ kvm: 1000, tcg: 1000 });
    assert.ok((await rt.availability()).available);
    const id = newId();
    await assert.rejects(
      rt.start(await spec(id)),
      (e: Error & { code?: string }) => e.code === 'runtime_error' && /did not boot within 1000 ms/.test(e.message),
    );
    assert.deepEqual(remainsOf(id, dir), { cgroups: [], processes: [], mounts: [], paths: [] });
    assert.deepEqual(await rt.list(), []);
    assert.ok(
      lines.some((l) => l.includes(id) && l.includes('"console"')),
      'the failure and its console are logged',
    );
  });

  test('a guest whose init fails prints why on the console, which reaches the log', async () => {
    const rt = runtime();
    const id = newId();
    const s = await spec(id);
    assert.equal(s.rootfs.kind, 'directory');
    if (s.rootfs.kind !== 'directory') return;
    s.rootfs.mounts.push({ destination: '/no-such-dir', type: 'tmpfs', source: 'tmpfs', options: ['mode=755', 'size=1m'] });
    await assert.rejects(rt.start(s), (e: Error & { code?: string }) => e.code === 'runtime_error');
    assert.ok(
      lines.some((l) => l.includes(id) && l.includes('airlock-vm-init: tmpfs on /no-such-dir')),
      lines.filter((l) => l.includes(id)).join('\n'),
    );
    assert.ok(isClean(remainsOf(id, dir)));
  });

  test('with a network namespace, the guest is reachable on its tap there, and destroy removes the tap', async () => {
    const name = `airlock-t-${randomBytes(4).toString('hex')}`;
    const run = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
    // A TCP connect to a closed port of the guest: "refused" means the guest's kernel answered (its RST).
    const knock = () =>
      run([
        'ip',
        'netns',
        'exec',
        name,
        'python3',
        '-c',
        [
          'import socket',
          's = socket.socket(); s.settimeout(10)',
          'try: s.connect(("169.254.100.2", 9)); print("open")',
          'except ConnectionRefusedError: print("refused")',
          'except OSError as e: print("unreachable", e)',
        ].join('\n'),
      ]).stdout.trim();
    assert.equal(run(['ip', 'netns', 'add', name]).status, 0);
    const rt = runtime();
    const id = newId();
    try {
      assert.match(knock(), /^unreachable/, 'positive control: nothing answers before the VM');
      const handle = await rt.start(await spec(id, { network: { kind: 'netns', path: `/run/netns/${name}` } }));
      handle.close();
      assert.equal(knock(), 'refused', 'the guest answers on its tap inside the sandbox netns');
      await rt.destroy(id);
      assert.notEqual(run(['ip', '-n', name, 'link', 'show', 'airlock-vm0']).status, 0, 'the tap is gone');
      assert.ok(isClean(remainsOf(id, dir)));
    } finally {
      await rt.destroy(id).catch(() => {});
      run(['ip', 'netns', 'del', name]);
    }
  });
});
