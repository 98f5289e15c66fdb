/**
 * @module microvm-runtime
 * `runtime: "microvm"`: each sandbox is a QEMU virtual machine with its own kernel (Debian's cloud
 * kernel), so a host-kernel exploit from inside stops at the guest's kernel. The agent is the
 * guest's PID 1 (it does the minimal init itself: packages/agent/native/vm-init.c) and speaks the
 * same protocol over a virtio-serial port that QEMU maps to its stdio; the shim holds that stdio in
 * --attached mode, exactly as for bubblewrap, so a server restart leaves the VM running and the
 * server reattaches through the shim's socket.
 *
 * QEMU is jailed (host/vm/jail.ts): its own unprivileged uid, user/mount/pid/ipc/uts/cgroup/net
 * namespaces, `-sandbox on`, and a cgroup whose memory limit is guest RAM plus QEMU's overhead.
 * KVM where a probe shows it works, TCG otherwise (host/vm/accel.ts).
 *
 * Host layout per sandbox: runtime/microvm/bundles/<id>/ (marks it ours: argv, shim pid, network),
 * runtime/microvm/sockets/<id>.sock (the shim's), <data-dir>/vm/<id>/ (owned by the sandbox's uid:
 * QMP and virtiofs sockets; QEMU sees it as /vm) and the cgroup /airlock/<id>.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SHIM_BINARY } from '@airlock/agent';
import type { VmConfig } from '../../config.js';
import { runtimeError } from '../../errors.js';
import { createSandboxCgroups, killSandboxCgroup, projectOps, removeSandboxCgroups, sandboxCgroupPids } from '../../host/cgroups.js';
import { checkCommand } from '../../host/command.js';
import { recordShim, recordedShim, startShim, stopShim } from '../../host/shim.js';
import { hostTscKhz, probeAccel, type AccelVerdict } from '../../host/vm/accel.js';
import { findGuestKernel, type GuestKernel } from '../../host/vm/guest-kernel.js';
import { ensureInitramfs } from '../../host/vm/initramfs.js';
import { JAIL_VM_DIR, jailArgv } from '../../host/vm/jail.js';
import { guestCmdline, qemuArgv } from '../../host/vm/qemu-argv.js';
import { attachTap, detachTap, GUEST_NET, TAP_NAME } from '../../host/vm/tap.js';
import type { Logger } from '../../log.js';
import type { Availability, EnforcedLimits, Runtime, RuntimeDescription, RuntimeSpec, RuntimeStatus, SandboxHandle } from '../runtime.js';
import { UnixSocketTransport } from '../socket-transport.js';
import { guestRootfs } from './guest-rootfs.js';
import { BootConsole } from './boot-console.js';
import { VmSandboxHandle } from './vm-handle.js';

export interface MicrovmRuntimeOptions {
  stateDir: string;
  /** <data-dir>/vm: one directory per VM, owned by its uid (0711 itself). */
  vmRoot: string;
  /** A directory every uid can read (the initramfs lives there). */
  sharedDir: string;
  agentBinary: string;
  vm: VmConfig;
  log: Logger;
}

interface Kit {
  kernel: GuestKernel;
  initramfs: string;
  accel: AccelVerdict;
  tscKhz: number | undefined;
}

const CONSOLE_BYTES = 64 * 1024;
/**
 * Guest RAM on top of the sandbox's memory: what the guest kernel itself keeps (about 34 MiB of a
 * 128 MiB guest here), so that the sandbox's processes get about what it asked for and a 64 MiB
 * sandbox still boots.
 */
const GUEST_KERNEL_MIB = 48;
/** Where QEMU sees the kernel and initramfs inside its jail. */
const JAIL_KERNEL = '/boot/vmlinuz';
const JAIL_INITRAMFS = '/boot/initramfs.cpio';

export class MicrovmRuntime implements Runtime {
  readonly name = 'microvm' as const;
  readonly description: RuntimeDescription = {
    isolation: 'microvm',
    rootfs: ['directory'],
    idmappedRootfs: false,
    rootInside: true,
    pulledImages: false,
    network: ['none', 'netns'],
  };
  readonly #o: MicrovmRuntimeOptions;
  #kit: Promise<Kit> | undefined;
  #verdict: AccelVerdict | undefined;

  constructor(options: MicrovmRuntimeOptions) {
    this.#o = options;
  }

  /** The accelerator guests get (known once availability() ran). */
  get accel(): AccelVerdict | undefined {
    return this.#verdict;
  }

  async availability(): Promise<Availability> {
    if (process.getuid?.() !== 0)
      return { available: false, reason: 'microVMs need the server to run as root (it creates cgroups and drops QEMU to a per-sandbox uid)' };
    for (const bin of [this.#o.agentBinary, SHIM_BINARY]) {
      if (!existsSync(bin)) return { available: false, reason: `${bin} is missing: run \`make -C packages/agent/native\`` };
    }
    if (!existsSync('/usr/lib/qemu/virtiofsd'))
      return { available: false, reason: 'virtiofsd (/usr/lib/qemu/virtiofsd) is missing: install qemu-system-x86 (scripts/setup.sh does)' };
    try {
      await checkCommand(['qemu-system-x86_64', '--version'], { timeoutMs: 10_000 });
    } catch (e) {
      return { available: false, reason: `QEMU is not usable (${(e as Error).message}); install qemu-system-x86 (scripts/setup.sh does)` };
    }
    try {
      for (const tool of [
        ['bwrap', '--version'],
        ['setpriv', '--version'],
        ['unshare', '--version'],
        ['nsenter', '--version'],
      ])
        await checkCommand(tool, { timeoutMs: 10_000 });
    } catch (e) {
      return { available: false, reason: `the VM jail needs bubblewrap and util-linux (${(e as Error).message})` };
    }
    try {
      const kit = await this.#ensureKit();
      this.#verdict = kit.accel;
      return { available: true, accel: { name: kit.accel.accel, reason: kit.accel.reason } };
    } catch (e) {
      return { available: false, reason: (e as Error).message };
    }
  }

  async start(spec: RuntimeSpec): Promise<SandboxHandle> {
    const log = this.#o.log.child({ sandbox: spec.id, runtime: 'microvm' });
    const boot = new BootConsole(join(this.#vmDir(spec.id), 'qmp.sock'), CONSOLE_BYTES);
    let started: Promise<number> | undefined;
    try {
      const kit = await this.#ensureKit();
      const enforced = this.#enforce(spec);
      const rootfs = guestRootfs(spec.rootfs, spec.memoryMiB, (dir) => statSync(dir));
      const bundle = this.#bundleDir(spec.id);
      mkdirSync(bundle, { recursive: true, mode: 0o700 });
      mkdirSync(join(this.#o.stateDir, 'sockets'), { recursive: true, mode: 0o700 });
      mkdirSync(this.#o.vmRoot, { recursive: true, mode: 0o711 });
      const vmDir = this.#vmDir(spec.id);
      mkdirSync(vmDir, { mode: 0o700 });
      chownSync(vmDir, spec.hostIds.base, spec.hostIds.base);
      const period = 100_000;
      const cgroupProcs = createSandboxCgroups(
        spec.id,
        {
          memoryBytes: (enforced.memoryMiB + enforced.memoryOverheadMiB) * 1024 * 1024,
          cpuQuotaUs: Math.max(1000, Math.round(spec.cpu * period)),
          cpuPeriodUs: period,
          pids: enforced.hostPids,
        },
        spec.project,
      );
      let netnsPath: string | undefined;
      if (spec.network.kind === 'netns') {
        netnsPath = spec.network.path;
        writeFileSync(join(bundle, 'network.json'), JSON.stringify({ netns: netnsPath }), { mode: 0o600 });
        await attachTap(netnsPath, spec.hostIds.base);
      }
      const accel = kit.accel.accel;
      const cmdline = guestCmdline(
        {
          root: { kind: 'virtiofs', tag: 'root' },
          tmpfs: rootfs.tmpfs,
          shmMiB: spec.memoryMiB,
          pids: spec.pids,
          ...(netnsPath ? { net: { address: GUEST_NET.guest, gateway: GUEST_NET.gateway } } : {}),
          ...(kit.tscKhz ? { tscKhz: kit.tscKhz } : {}),
        },
        accel,
      );
      const qemu = qemuArgv({
        name: `airlock-${spec.id}`,
        accel,
        machine: this.#o.vm.machine,
        vcpus: Math.max(1, Math.ceil(spec.cpu)),
        memoryMiB: spec.memoryMiB + GUEST_KERNEL_MIB,
        kernel: JAIL_KERNEL,
        initramfs: JAIL_INITRAMFS,
        cmdline,
        qmpSocket: `${JAIL_VM_DIR}/qmp.sock`,
        virtiofsSocket: `${JAIL_VM_DIR}/fs.sock`,
        disks: [],
        ...(netnsPath ? { tap: TAP_NAME } : {}),
        consoleBytes: CONSOLE_BYTES,
      });
      const argv = jailArgv({
        id: spec.id,
        hostUid: spec.hostIds.base,
        cgroupProcs,
        vmDir,
        files: [
          { source: kit.kernel.image, destination: JAIL_KERNEL },
          { source: kit.initramfs, destination: JAIL_INITRAMFS },
        ],
        virtiofs: { ...rootfs.virtiofs, socket: join(vmDir, 'fs.sock') },
        ...(netnsPath ? { netnsPath } : {}),
        kvm: accel === 'kvm',
        qemu,
      });
      writeFileSync(join(bundle, 'argv.json'), JSON.stringify(argv), { mode: 0o600 });
      const bootMs = this.#o.vm.bootTimeoutMs[accel];
      boot.watch();
      // The shim's own deadline is later than ours: on ours, the console can still be read.
      started = startShim(this.#socket(spec.id), argv, {
        attached: true,
        readyMs: bootMs + 30_000,
        timeoutMs: bootMs + 40_000,
        cgroupProcs: projectOps(spec.project),
      });
      const first = await Promise.race([started, delay(bootMs).then(() => 'timeout' as const)]);
      if (first === 'timeout') throw new Error(`the guest did not boot within ${bootMs} ms (${accel})`);
      recordShim(join(bundle, 'shim.pid'), first);
      await boot.stop();
      const handle = this.#handle(spec.id, enforced);
      // What the console said during boot still counts (an OOM in the first seconds).
      handle.absorb(boot.text);
      return handle;
    } catch (e) {
      await boot.stop();
      started?.catch(() => {});
      const lines = boot.lastLines(25);
      log.error({ console: lines }, `microVM ${spec.id} failed to start; the console's last lines follow`);
      await this.destroy(spec.id).catch((err: unknown) => log.error({ err }, 'cleanup after a failed start failed'));
      throw runtimeError(`microvm could not start sandbox ${spec.id}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  async adopt(id: string, spec: RuntimeSpec): Promise<SandboxHandle | undefined> {
    if ((await this.status(id)) !== 'running') return undefined;
    return this.#handle(id, this.#enforce(spec));
  }

  async status(id: string): Promise<RuntimeStatus> {
    if (sandboxCgroupPids(id).length > 0) return 'running';
    return existsSync(this.#bundleDir(id)) ? 'stopped' : 'absent';
  }

  async stop(id: string): Promise<void> {
    // bwrap is PID 1 of QEMU's pid namespace: killing everything in the cgroup ends QEMU, virtiofsd and the launcher.
    await killSandboxCgroup(id);
  }

  async destroy(id: string): Promise<void> {
    await this.stop(id);
    const bundle = this.#bundleDir(id);
    const socket = this.#socket(id);
    const shim = recordedShim(join(bundle, 'shim.pid'), socket);
    if (shim !== undefined) await stopShim(shim, socket);
    rmSync(socket, { force: true });
    const network = join(bundle, 'network.json');
    if (existsSync(network)) {
      const { netns } = JSON.parse(readFileSync(network, 'utf8')) as { netns: string };
      await detachTap(netns);
    }
    rmSync(this.#vmDir(id), { recursive: true, force: true });
    let leftover = removeSandboxCgroups(id);
    for (let i = 0; i < 50 && leftover.length > 0; i++) {
      await delay(20);
      leftover = removeSandboxCgroups(id);
    }
    rmSync(bundle, { recursive: true, force: true });
    if (leftover.length > 0) throw runtimeError(`cgroups of ${id} could not be removed: ${leftover.join(', ')}`);
  }

  async list(): Promise<string[]> {
    const dir = join(this.#o.stateDir, 'bundles');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  #enforce(spec: Pick<RuntimeSpec, 'cpu' | 'memoryMiB' | 'pids'>): EnforcedLimits {
    return {
      pids: spec.pids,
      hostPids: this.#o.vm.hostTasks,
      memoryMiB: spec.memoryMiB,
      memoryOverheadMiB: this.#o.vm.overheadMiB + GUEST_KERNEL_MIB,
      cpu: spec.cpu,
    };
  }

  #ensureKit(): Promise<Kit> {
    this.#kit ??= (async () => {
      const found = findGuestKernel(this.#o.vm.kernel);
      if ('missing' in found) throw new Error(found.missing);
      mkdirSync(this.#o.sharedDir, { recursive: true, mode: 0o755 });
      const initramfs = ensureInitramfs(found.kernel, this.#o.agentBinary, this.#o.sharedDir);
      const version = (await checkCommand(['qemu-system-x86_64', '--version'], { timeoutMs: 10_000 })).stdout.split('\n')[0] ?? '';
      const accel: AccelVerdict =
        this.#o.vm.accel === 'auto'
          ? await probeAccel({ kernel: found.kernel.image, initramfs, qemuVersion: version, deadlineMs: 5000 })
          : { accel: this.#o.vm.accel, reason: 'configured' };
      return { kernel: found.kernel, initramfs, accel, tscKhz: hostTscKhz() };
    })();
    this.#kit.catch(() => (this.#kit = undefined));
    return this.#kit;
  }

  #handle(id: string, enforced: EnforcedLimits): VmSandboxHandle {
    return new VmSandboxHandle({
      transport: new UnixSocketTransport(this.#socket(id)),
      enforced,
      qmpSocket: join(this.#vmDir(id), 'qmp.sock'),
      consoleBytes: CONSOLE_BYTES,
    });
  }

  #bundleDir(id: string): string {
    return join(this.#o.stateDir, 'bundles', id);
  }

  #socket(id: string): string {
    return join(this.#o.stateDir, 'sockets', `${id}.sock`);
  }

  #vmDir(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`not a sandbox id: ${id}`);
    return join(this.#o.vmRoot, id);
  }
}
