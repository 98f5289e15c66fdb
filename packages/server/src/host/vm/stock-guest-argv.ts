/**
 * @module stock-guest-argv
 * The QEMU command line of the stock-host guest (`npm run test:stock-host`): a Debian 12 machine
 * booted with the unified cgroup v2 hierarchy only, in which the suite runs on runc, gVisor and
 * bwrap. Pure: argv only. Unlike a sandbox's microVM this is a whole test machine the host trusts
 * (it runs our own test code on our own image), so it boots Debian's own initrd from a disk, but it
 * is still given no network and no device beyond its disk, two virtio-fs shares and a console file.
 */
import { cpuMemoryAndConfinement, type Accel } from './qemu-argv.js';

export interface StockGuestInput {
  accel: Accel;
  vcpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  /** The cached Debian image; opened read-only, the guest's writes go to a temporary overlay (snapshot=on) in QEMU's TMPDIR. */
  image: string;
  /** Where the project tree is mounted in the guest (the same path as on the host). */
  treePath: string;
  /** vhost-user sockets of the virtiofsds serving the tree (read-only) and the scratch. */
  treeSocket: string;
  scratchSocket: string;
  consoleFile: string;
  /** TCG only: the host's TSC frequency, so that the guest need not calibrate against the emulated PIT. */
  tscKhz?: number;
}

const SAFE_PATH = /^\/[A-Za-z0-9_./@-]*$/;

export function stockGuestCmdline(g: Pick<StockGuestInput, 'accel' | 'treePath' | 'tscKhz'>): string {
  if (!SAFE_PATH.test(g.treePath)) throw new Error(`tree path ${JSON.stringify(g.treePath)} cannot go on a kernel command line`);
  const words = [
    'root=/dev/vda',
    'rw',
    'init=/sbin/airlock-stock-init',
    'console=ttyS0',
    'loglevel=4',
    'panic=-1',
    // What makes it a stock Debian 12 host for our purposes: only the unified hierarchy. The first word is systemd's, the second the kernel's.
    'systemd.unified_cgroup_hierarchy=1',
    'cgroup_no_v1=all',
    ...(g.accel === 'tcg' && g.tscKhz ? [`tsc_early_khz=${g.tscKhz}`, 'tsc=reliable', 'no_timer_check'] : []),
    `airlock.tree=${g.treePath}`,
  ];
  return words.join(' ');
}

export function stockGuestArgv(g: StockGuestInput): string[] {
  for (const p of [g.kernel, g.initrd, g.image, g.treeSocket, g.scratchSocket, g.consoleFile]) {
    if (!SAFE_PATH.test(p)) throw new Error(`path ${JSON.stringify(p)} cannot be passed to QEMU`);
  }
  return [
    'qemu-system-x86_64',
    '-name',
    'airlock-stock-host',
    '-machine',
    'q35,memory-backend=mem,smm=off,vmport=off',
    ...cpuMemoryAndConfinement(g.accel, g.vcpus, g.memoryMiB, 256),
    '-kernel',
    g.kernel,
    '-initrd',
    g.initrd,
    '-append',
    stockGuestCmdline(g),
    '-chardev',
    `file,id=console,path=${g.consoleFile}`,
    '-serial',
    'chardev:console',
    '-drive',
    `file=${g.image},format=raw,if=virtio,snapshot=on,cache=unsafe`,
    '-chardev',
    `socket,id=tree,path=${g.treeSocket}`,
    '-device',
    'vhost-user-fs-pci,chardev=tree,tag=tree,queue-size=1024',
    '-chardev',
    `socket,id=scratch,path=${g.scratchSocket}`,
    '-device',
    'vhost-user-fs-pci,chardev=scratch,tag=scratch,queue-size=1024',
    '-nic',
    'none',
  ];
}
