import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { moduleLoadOrder } from './initramfs.js';
import { jailArgv } from './jail.js';
import { guestCmdline, qemuArgv, type QemuInput } from './qemu-argv.js';

const base: QemuInput = {
  name: 'airlock-sb-x',
  accel: 'tcg',
  machine: 'microvm',
  vcpus: 1,
  memoryMiB: 256,
  kernel: '/boot/vmlinuz-6.1.0-57-cloud-amd64',
  initramfs: '/d/images/vm/initramfs.cpio',
  cmdline: 'console=ttyS0',
  qmpSocket: '/vm/qmp.sock',
  virtiofsSocket: '/vm/fs.sock',
  disks: [],
  consoleBytes: 65536,
};

describe('microVM command lines', { timeout: 10_000 }, () => {
  test('QEMU gets no default devices, its seccomp filter, a bounded console and the agent on stdio', () => {
    const argv = qemuArgv(base);
    const pairs = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
    assert.ok(argv.includes('-nodefaults') && argv.includes('-no-user-config'));
    assert.deepEqual(pairs('-sandbox'), ['on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny']);
    assert.ok(pairs('-chardev').includes('ringbuf,id=console,size=65536'));
    assert.ok(pairs('-chardev').includes('stdio,id=agent,signal=off'));
    assert.ok(pairs('-device').includes('virtserialport,chardev=agent,name=airlock.agent'));
    assert.deepEqual(pairs('-accel'), ['tcg,tb-size=64']);
    assert.ok(!argv.some((a) => a.startsWith('-netdev')), 'no network without a tap');
    const kvm = qemuArgv({ ...base, accel: 'kvm', machine: 'q35', tap: 'airlock-vm0' });
    assert.deepEqual(
      kvm.flatMap((a, i) => (a === '-cpu' ? [kvm[i + 1]] : [])),
      ['host'],
    );
    assert.ok(kvm.includes('virtio-serial-pci,max_ports=2'));
    assert.ok(kvm.some((a) => a.startsWith('tap,id=net0,ifname=airlock-vm0,script=no')));
  });

  test('the guest command line carries the root, limits and tmpfs to vm-init, and stays within 2 KiB', () => {
    const line = guestCmdline(
      {
        root: { kind: 'virtiofs', tag: 'root' },
        tmpfs: [{ destination: '/home/user', mode: 0o755, uid: 1000, gid: 1000, sizeMiB: 512, inodes: 131072, readonly: false }],
        shmMiB: 256,
        pids: 512,
        tscKhz: 2_596_152,
      },
      'tcg',
    );
    assert.match(line, / AIRLOCK_VM=1 /);
    assert.match(line, / AIRLOCK_ROOT=virtiofs:root /);
    assert.match(line, / AIRLOCK_TMPFS=\/home\/user:755:1000:1000:512:131072(\s|$)/);
    assert.match(line, / tsc_early_khz=2596152 /);
    assert.doesNotMatch(guestCmdline({ root: { kind: 'blk' }, tmpfs: [], shmMiB: 64, pids: 64, tscKhz: 1 }, 'kvm'), /tsc_early_khz/);
    assert.throws(
      () =>
        guestCmdline(
          { root: { kind: 'blk' }, tmpfs: [{ destination: '/a b', mode: 0o755, uid: 0, gid: 0, sizeMiB: 1, inodes: 1, readonly: false }], shmMiB: 1, pids: 1 },
          'tcg',
        ),
      /cannot go on a kernel command line/,
    );
  });

  test('the jail drops to the sandbox uid, no capabilities, and bwrap with only /usr and the VM dir', () => {
    const argv = jailArgv({
      id: 'sb-x',
      hostUid: 1_065_536,
      cgroupProcs: ['/sys/fs/cgroup/airlock/sb-x/cgroup.procs'],
      vmDir: '/d/vm/sb-x',
      files: [{ source: base.kernel, destination: '/boot/vmlinuz' }],
      kvm: false,
      qemu: qemuArgv(base),
    });
    const script = argv[argv.indexOf('-c') + 1]!;
    assert.match(script, /setpriv --reuid="\$uid" --regid="\$uid" --clear-groups --inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs/);
    const bwrap = argv.slice(argv.indexOf('bwrap'));
    for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-net', '--disable-userns', '--die-with-parent', '--new-session'])
      assert.ok(bwrap.includes(flag), flag);
    const binds = bwrap.flatMap((a, i) => (a === '--bind' || a === '--ro-bind' ? [bwrap[i + 1]] : []));
    assert.deepEqual(binds, ['/usr', base.kernel, '/d/vm/sb-x']);
    assert.ok(bwrap.includes('/boot/vmlinuz'));
    assert.ok(!bwrap.includes('/dev/kvm'));
    const netns = jailArgv({ id: 'sb-x', hostUid: 1, cgroupProcs: [], vmDir: '/d/vm/sb-x', files: [], netnsPath: '/run/netns/n1', kvm: true, qemu: ['qemu'] });
    assert.ok(!netns.includes('--unshare-net'), 'QEMU stays in the sandbox netns to open its tap');
    assert.ok(netns.includes('/dev/kvm') && netns.includes('/dev/net/tun'));
    assert.throws(() => jailArgv({ id: 'x', hostUid: 1, cgroupProcs: [], vmDir: '/d/vm\nx', files: [], kvm: false, qemu: [] }), /cannot be passed/);
  });

  test('modules load after their dependencies; built-in ones are skipped', () => {
    const dep = [
      'kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko',
      'kernel/fs/fuse/fuse.ko:',
      'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/virtio/virtio_ring.ko:',
      'kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    ].join('\n');
    assert.deepEqual(moduleLoadOrder(dep, ['virtio_mmio', 'virtiofs', 'ext4']), [
      'kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_mmio.ko',
      'kernel/fs/fuse/fuse.ko',
      'kernel/fs/fuse/virtiofs.ko',
    ]);
  });
});
