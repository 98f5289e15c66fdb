/**
 * @module qemu-argv
 * The QEMU command line and guest kernel command line of one microVM. Pure: argv only, so that every
 * device the guest gets is visible (and reviewable) in one place. The guest's devices are exactly:
 * the agent's virtio-serial port (mapped to QEMU's stdio, which the shim holds), a serial console
 * into a bounded ring buffer (read over QMP), and the root filesystem (virtio-fs from a read-only
 * host directory, or virtio-blk disks), plus a virtio-net device on a tap when the sandbox has a
 * network. No USB, no graphics, no default devices (-nodefaults), no firmware config from the user.
 */

export type Accel = 'kvm' | 'tcg';
export type Machine = 'microvm' | 'q35';

/** A writable place inside the guest: a tmpfs bounded in size and inodes (guest memory). */
export interface GuestTmpfs {
  destination: string;
  mode: number;
  uid: number;
  gid: number;
  sizeMiB: number;
  inodes: number;
  readonly: boolean;
}

export interface GuestBoot {
  root: { kind: 'virtiofs'; tag: string } | { kind: 'blk' };
  tmpfs: GuestTmpfs[];
  shmMiB: number;
  pids: number;
  /** eth0's address (ADDR/PREFIX) and gateway, when the guest has a network. */
  net?: { address: string; gateway?: string };
  /** TCG only: the host's TSC frequency, so the guest need not calibrate it against an emulated PIT (which fails under load and hangs the boot). */
  tscKhz?: number;
}

const SAFE = /^[A-Za-z0-9_./@-]+$/;

/** The kernel command line; the AIRLOCK_* words reach the agent (vm-init.c) as environment. */
export function guestCmdline(b: GuestBoot, accel: Accel): string {
  const words = [
    'console=ttyS0',
    // Only warnings and worse reach the console: quick to boot, and the OOM killer's reports (errors) are there.
    'quiet',
    'loglevel=4',
    'panic=-1',
    'reboot=t',
    'i8042.noaux',
    'i8042.nomux',
    'i8042.nopnp',
    'i8042.dumbkbd',
    'cryptomgr.notests',
    'random.trust_cpu=on',
    // cgroup v2 only inside, as on a stock host.
    'cgroup_no_v1=all',
    ...(accel === 'tcg' && b.tscKhz ? [`tsc_early_khz=${b.tscKhz}`, 'tsc=reliable', 'no_timer_check', `lpj=${b.tscKhz * 4}`] : []),
    'AIRLOCK_VM=1',
    `AIRLOCK_ROOT=${b.root.kind === 'virtiofs' ? `virtiofs:${b.root.tag}` : 'blk'}`,
    `AIRLOCK_PIDS=${b.pids}`,
    `AIRLOCK_SHM=mode=1777,size=${b.shmMiB}m`,
  ];
  if (b.tmpfs.length > 0) {
    words.push(
      `AIRLOCK_TMPFS=${b.tmpfs
        .map((t) => {
          if (!SAFE.test(t.destination) || !t.destination.startsWith('/') || t.destination.includes(':'))
            throw new Error(`tmpfs destination ${t.destination} cannot go on a kernel command line`);
          return [t.destination, t.mode.toString(8), t.uid, t.gid, t.sizeMiB, t.inodes, ...(t.readonly ? ['ro'] : [])].join(':');
        })
        .join(',')}`,
    );
  }
  if (b.net) words.push(`AIRLOCK_NET=${b.net.address}${b.net.gateway ? `,${b.net.gateway}` : ''}`);
  for (const w of words) if (/\s/.test(w)) throw new Error(`kernel command line word with whitespace: ${w}`);
  const line = words.join(' ');
  // x86's COMMAND_LINE_SIZE.
  if (line.length >= 2048) throw new Error(`the guest kernel command line is ${line.length} bytes (limit 2047)`);
  return line;
}

export interface QemuInput {
  name: string;
  accel: Accel;
  machine: Machine;
  vcpus: number;
  memoryMiB: number;
  kernel: string;
  initramfs: string;
  cmdline: string;
  /** QMP socket (console reads, shutdown). */
  qmpSocket: string;
  /** vhost-user socket of the virtiofsd serving the root, tagged `root`. */
  virtiofsSocket?: string;
  /** Disks in the order the guest names them vda, vdb, … */
  disks: { file: string; readonly: boolean }[];
  /** A tap device QEMU opens (it must exist in QEMU's network namespace, owned by QEMU's uid). */
  tap?: string;
  consoleBytes: number;
}

/**
 * The accelerator, vCPUs and RAM (a memfd that a vhost-user backend such as virtiofsd can map), no
 * default devices, and QEMU's own seccomp filter (no spawning, no privilege changes, no obsolete or
 * resource-control calls). Shared by the sandbox microVM and the stock-host test guest.
 */
export function cpuMemoryAndConfinement(accel: Accel, vcpus: number, memoryMiB: number, tbSizeMiB: number): string[] {
  return [
    '-accel',
    accel === 'tcg' ? `tcg,tb-size=${tbSizeMiB}` : 'kvm',
    '-cpu',
    accel === 'kvm' ? 'host' : 'max',
    '-smp',
    String(vcpus),
    '-m',
    `${memoryMiB}M`,
    '-object',
    `memory-backend-memfd,id=mem,size=${memoryMiB}M,share=on`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  ];
}

export function qemuArgv(q: QemuInput): string[] {
  const mmio = q.machine === 'microvm';
  const dev = (name: string) => (mmio ? `${name}-device` : `${name}-pci`);
  const machine =
    q.machine === 'microvm'
      ? // The emulated PIT, PIC and RTC give TCG guests a timer to calibrate against; ACPI describes the virtio-mmio devices.
        'microvm,memory-backend=mem,pit=on,pic=on,rtc=on,isa-serial=on,acpi=on'
      : 'q35,memory-backend=mem,smm=off,vmport=off';
  const argv = [
    'qemu-system-x86_64',
    '-name',
    q.name,
    '-machine',
    machine,
    ...cpuMemoryAndConfinement(q.accel, q.vcpus, q.memoryMiB, 64),
    '-kernel',
    q.kernel,
    '-initrd',
    q.initramfs,
    '-append',
    q.cmdline,
    '-qmp',
    `unix:${q.qmpSocket},server=on,wait=off`,
    // The console: kernel messages (and anything guest root writes to ttyS0) into a bounded ring.
    '-chardev',
    `ringbuf,id=console,size=${q.consoleBytes}`,
    '-serial',
    'chardev:console',
    // The agent's channel: QEMU's stdin/stdout, held by the shim.
    '-chardev',
    'stdio,id=agent,signal=off',
    '-device',
    `${dev('virtio-serial')},max_ports=2`,
    '-device',
    'virtserialport,chardev=agent,name=airlock.agent',
  ];
  if (mmio) argv.push('-global', 'virtio-mmio.force-legacy=false');
  if (q.virtiofsSocket)
    argv.push(
      '-chardev',
      `socket,id=rootfs,path=${q.virtiofsSocket}`,
      '-device',
      `${mmio ? 'vhost-user-fs-device' : 'vhost-user-fs-pci'},chardev=rootfs,tag=root,queue-size=1024`,
    );
  q.disks.forEach((d, i) => {
    argv.push('-blockdev', `driver=file,node-name=disk${i}f,filename=${d.file},cache.direct=off${d.readonly ? ',read-only=on' : ''}`);
    argv.push('-blockdev', `driver=raw,node-name=disk${i},file=disk${i}f${d.readonly ? ',read-only=on' : ''}`);
    argv.push('-device', `${dev('virtio-blk')},drive=disk${i}`);
  });
  if (q.tap) argv.push('-netdev', `tap,id=net0,ifname=${q.tap},script=no,downscript=no,vhost=off`, '-device', `${dev('virtio-net')},netdev=net0`);
  for (const a of argv) if (a.includes('\0')) throw new Error('NUL in a QEMU argument');
  return argv;
}
