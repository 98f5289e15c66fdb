/**
 * @module bwrap-runtime
 * Bubblewrap: no container runtime and no root inside. Each sandbox runs as an unprivileged host uid
 * of its own (the slot's range base, as runc's root), in new user (no nested ones), pid, ipc, uts,
 * net and cgroup namespaces, with the compiled seccomp filter and cgroup limits joined before exec.
 * bwrap stays the shim's child (--die-with-parent), so the shim runs it in --attached mode.
 *
 * Lifecycle on the host: bundles/<id>/ marks the sandbox as ours; the cgroups /airlock/<id> hold
 * every process of it; the shim socket is the agent channel. destroy kills the cgroup's processes.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SECCOMP_COMPILER, SHIM_BINARY } from '@airlock/agent';
import { runtimeError } from '../errors.js';
import { createSandboxCgroups, killSandboxCgroup, projectOps, removeSandboxCgroups, sandboxCgroupPids } from '../host/cgroups.js';
import { checkCommand } from '../host/command.js';
import { compileSeccomp } from '../host/seccomp-compile.js';
import { recordShim, recordedShim, startShim, stopShim } from '../host/shim.js';
import type { Logger } from '../log.js';
import { bwrapArgv } from './bwrap-args.js';
import { CgroupSandboxHandle } from './cgroup-handle.js';
import { hostLimits } from './enforced-limits.js';
import { MASKED_PATHS } from './oci-spec.js';
import type { Availability, EnforcedLimits, Runtime, RuntimeDescription, RuntimeSpec, RuntimeStatus, SandboxHandle } from './runtime.js';
import { compilerPolicy, type OciSeccomp } from './seccomp-profile.js';
import { UnixSocketTransport } from './socket-transport.js';

export interface BwrapRuntimeOptions {
  stateDir: string;
  agentBinary: string;
  seccomp: { profile: OciSeccomp } | { missing: string };
  log: Logger;
}

export class BwrapRuntime implements Runtime {
  readonly name = 'bwrap' as const;
  readonly description: RuntimeDescription = {
    isolation: 'namespaces',
    rootfs: ['directory'],
    // One unprivileged host uid (spec.hostIds.base) is mapped, to `user`: nothing to idmap.
    idmappedRootfs: false,
    rootInside: false,
    pulledImages: false,
    network: ['none', 'netns'],
  };
  readonly #o: BwrapRuntimeOptions;
  #bpf: Promise<string> | undefined;

  constructor(options: BwrapRuntimeOptions) {
    this.#o = options;
  }

  async availability(): Promise<Availability> {
    if (process.getuid?.() !== 0)
      return { available: false, reason: 'bwrap sandboxes need the server to run as root (it creates cgroups and drops to a per-sandbox uid)' };
    if ('missing' in this.#o.seccomp) return { available: false, reason: `no seccomp profile: ${this.#o.seccomp.missing}` };
    for (const bin of [this.#o.agentBinary, SHIM_BINARY, SECCOMP_COMPILER]) {
      if (!existsSync(bin)) return { available: false, reason: `${bin} is missing: run \`make -C packages/agent/native\` (needs libseccomp-dev)` };
    }
    try {
      if (Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')) === 0)
        return { available: false, reason: 'user namespaces are disabled (user.max_user_namespaces=0)' };
      await checkCommand(['bwrap', '--version'], { timeoutMs: 10_000 });
      await checkCommand(['setpriv', '--version'], { timeoutMs: 10_000 });
      await this.#seccompProgram();
      return { available: true };
    } catch (e) {
      return { available: false, reason: `bwrap is not usable (${e instanceof Error ? e.message : String(e)}); install bubblewrap and util-linux` };
    }
  }

  async start(spec: RuntimeSpec): Promise<SandboxHandle> {
    try {
      const bundle = this.#bundleDir(spec.id);
      mkdirSync(bundle, { recursive: true, mode: 0o700 });
      mkdirSync(join(this.#o.stateDir, 'sockets'), { recursive: true, mode: 0o700 });
      const period = 100_000;
      const cgroupProcs = createSandboxCgroups(
        spec.id,
        {
          memoryBytes: spec.memoryMiB * 1024 * 1024,
          cpuQuotaUs: Math.max(1000, Math.round(spec.cpu * period)),
          cpuPeriodUs: period,
          pids: spec.pids,
        },
        spec.project,
      );
      const argv = bwrapArgv({
        id: spec.id,
        rootfs: spec.rootfs,
        agentBinary: this.#o.agentBinary,
        hostUid: spec.hostIds.base,
        cgroupProcs,
        seccompBpf: await this.#seccompProgram(),
        memoryMiB: spec.memoryMiB,
        // bwrap cannot mount over an entry this kernel's /proc lacks; the sandbox's /proc is the same kernel's.
        procMasks: MASKED_PATHS.filter((p) => p.startsWith('/proc/') && existsSync(p)).map((p) => ({ path: p, dir: statSync(p).isDirectory() })),
        ...(spec.network.kind === 'netns' ? { netnsPath: spec.network.path } : {}),
      });
      writeFileSync(join(bundle, 'argv.json'), JSON.stringify(argv), { mode: 0o600 });
      const shimPid = await startShim(this.#socket(spec.id), argv, { attached: true, cgroupProcs: projectOps(spec.project) });
      recordShim(join(bundle, 'shim.pid'), shimPid);
      return this.#handle(spec.id, hostLimits(spec));
    } catch (e) {
      await this.destroy(spec.id).catch((cleanupError: unknown) =>
        this.#o.log.error({ sandbox: spec.id, err: cleanupError }, 'cleanup after a failed start failed'),
      );
      throw runtimeError(`bwrap could not start sandbox ${spec.id}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  async adopt(id: string, spec: RuntimeSpec): Promise<SandboxHandle | undefined> {
    if ((await this.status(id)) !== 'running') return undefined;
    return this.#handle(id, hostLimits(spec));
  }

  async status(id: string): Promise<RuntimeStatus> {
    if (sandboxCgroupPids(id).length > 0) return 'running';
    return existsSync(this.#bundleDir(id)) ? 'stopped' : 'absent';
  }

  async stop(id: string): Promise<void> {
    // Killing pid 1 of its pid namespace (the agent) takes every process inside with it; bwrap and
    // anything that raced a fork are in the cgroup too.
    await killSandboxCgroup(id);
  }

  async destroy(id: string): Promise<void> {
    await this.stop(id);
    const socket = this.#socket(id);
    const shim = recordedShim(join(this.#bundleDir(id), 'shim.pid'), socket);
    if (shim !== undefined) await stopShim(shim, socket);
    rmSync(socket, { force: true });
    // pids drain from a cgroup a little after their namespace is gone: retry rmdir briefly.
    let leftover = removeSandboxCgroups(id);
    for (let i = 0; i < 50 && leftover.length > 0; i++) {
      await delay(20);
      leftover = removeSandboxCgroups(id);
    }
    rmSync(this.#bundleDir(id), { recursive: true, force: true });
    if (leftover.length > 0) throw runtimeError(`cgroups of ${id} could not be removed: ${leftover.join(', ')}`);
  }

  async list(): Promise<string[]> {
    const dir = join(this.#o.stateDir, 'bundles');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /** The compiled filter, built once per server start from the same profile runc gets. */
  #seccompProgram(): Promise<string> {
    this.#bpf ??= (async () => {
      if ('missing' in this.#o.seccomp) throw new Error(this.#o.seccomp.missing);
      mkdirSync(this.#o.stateDir, { recursive: true, mode: 0o700 });
      const out = join(this.#o.stateDir, 'seccomp.bpf');
      await compileSeccomp(compilerPolicy(this.#o.seccomp.profile), out);
      return out;
    })();
    this.#bpf.catch(() => (this.#bpf = undefined));
    return this.#bpf;
  }

  #handle(id: string, enforced: EnforcedLimits): SandboxHandle {
    // The agent has the lowest OOM score of the sandbox: the limit ends the sandbox only if it killed the agent.
    return new CgroupSandboxHandle({ id, transport: new UnixSocketTransport(this.#socket(id)), enforced, oomEndsSandbox: false });
  }

  #bundleDir(id: string): string {
    return join(this.#o.stateDir, 'bundles', id);
  }

  #socket(id: string): string {
    return join(this.#o.stateDir, 'sockets', `${id}.sock`);
  }
}
