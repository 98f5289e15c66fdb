/**
 * @module oci-cli-runtime
 * A runtime driven through an OCI runtime CLI (runc, runsc). `run --detach` runs under the
 * sandbox's shim, which keeps the container's stdio pipes, so the agent channel exists before the
 * sandbox has any network and survives a restart of the server. Execs never pay for a `runc exec`.
 *
 * Host layout per sandbox, under the runtime's state dir: state/ (the CLI's --root), bundles/<id>/
 * (config.json, init.pid, shim.pid), sockets/<id>.sock (the shim's), and the cgroups
 * /airlock/project-<hash>/<id> (flat /airlock/<id> for a pooled sandbox; see host/cgroups.ts).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHIM_BINARY } from '@airlock/agent';
import type { RuntimeName } from '@airlock/protocol';
import { runtimeError } from '../errors.js';
import { cgroupsPath, holdProjectLevel, projectOps, removeSandboxCgroups, sandboxOps } from '../host/cgroups.js';
import { checkCommand, runCommand } from '../host/command.js';
import { recordShim, recordedShim, startShim, stopShim } from '../host/shim.js';
import type { OciMount } from '../images/image.js';
import type { Logger } from '../log.js';
import { CgroupSandboxHandle } from './cgroup-handle.js';
import { buildSpec } from './oci-spec.js';
import type { Availability, EnforcedLimits, Runtime, RuntimeDescription, RuntimeSpec, RuntimeStatus, SandboxHandle } from './runtime.js';
import type { OciSeccomp } from './seccomp-profile.js';
import { UnixSocketTransport } from './socket-transport.js';

export interface OciCliRuntimeOptions {
  name: RuntimeName;
  binary: string;
  /** Flags placed before the verb (`--root` is added here). */
  globalArgs: string[];
  description: RuntimeDescription;
  /** What this runtime enforces for a spec (gVisor: host guards above the guest's limits). */
  enforce(spec: Pick<RuntimeSpec, 'cpu' | 'memoryMiB' | 'pids'>): EnforcedLimits;
  /** Whether an OOM kill that coincides with the sandbox's end means the limit ended it (gVisor: yes). */
  oomEndsSandbox: boolean;
  /** The agent enforces the guest's process and memory limits inside (gVisor: the host cannot see guest processes). */
  guestLimits: boolean;
  /** Directory for this runtime's state, bundles and sockets. */
  stateDir: string;
  /** The agent binary, at a path every sandbox can reach. */
  agentBinary: string;
  /** Mounts this runtime adds to every sandbox, after the image's. */
  extraMounts: OciMount[];
  /** The seccomp profile every sandbox gets, or why there is none (then the runtime is unavailable). */
  seccomp: { profile: OciSeccomp } | { missing: string };
  /** TEST ONLY (weakened-runtime.ts): a wider capability set than oci-spec's CAPABILITIES. */
  capabilities?: readonly string[];
  /** Wraps the runtime's command line when the sandbox joins a network namespace (gVisor's netstack needs a private /proc/sys). */
  wrapForNetns?: (argv: string[], netnsPath: string) => string[];
  log: Logger;
}

export class OciCliRuntime implements Runtime {
  readonly name: RuntimeName;
  readonly description: RuntimeDescription;
  readonly #o: OciCliRuntimeOptions;
  readonly #root: string;

  constructor(options: OciCliRuntimeOptions) {
    this.#o = options;
    this.name = options.name;
    this.description = options.description;
    this.#root = join(options.stateDir, 'state');
  }

  async availability(): Promise<Availability> {
    if (process.getuid?.() !== 0) return { available: false, reason: `${this.#o.binary} needs the server to run as root` };
    if ('missing' in this.#o.seccomp) return { available: false, reason: `no seccomp profile: ${this.#o.seccomp.missing}` };
    for (const bin of [this.#o.agentBinary, SHIM_BINARY]) {
      if (!existsSync(bin)) return { available: false, reason: `${bin} is missing: run \`make -C packages/agent/native\`` };
    }
    try {
      await checkCommand([this.#o.binary, '--version'], { timeoutMs: 10_000 });
      return { available: true };
    } catch (e) {
      return { available: false, reason: `${this.#o.binary} is not usable (${e instanceof Error ? e.message : String(e)}); install it with apt-get` };
    }
  }

  async start(spec: RuntimeSpec): Promise<SandboxHandle> {
    const bundle = this.#bundleDir(spec.id);
    // The runtime makes the sandbox's cgroups below the project's level while it runs: no release of
    // the project's last sandbox may remove that level meanwhile (host/cgroups.ts holdProjectLevel).
    // Given back before a failed start's cleanup, which may then remove the level itself.
    const release = holdProjectLevel(spec.project);
    try {
      if ('missing' in this.#o.seccomp) throw new Error(`no seccomp profile: ${this.#o.seccomp.missing}`);
      if (spec.network.kind !== 'none' && !this.description.network.includes(spec.network.kind)) {
        throw new Error(`${this.name} cannot join a network namespace on this host`);
      }
      mkdirSync(this.#root, { recursive: true, mode: 0o700 });
      mkdirSync(bundle, { recursive: true, mode: 0o700 });
      mkdirSync(join(this.#o.stateDir, 'sockets'), { recursive: true, mode: 0o700 });
      const enforced = this.#o.enforce(spec);
      // The runtime's work for a project's sandbox is the project's CPU (host/cgroups.ts OPS_LEAF).
      const cgroupProcs = projectOps(spec.project);
      const config = buildSpec({
        id: spec.id,
        rootfs: spec.rootfs,
        agentBinary: this.#o.agentBinary,
        extraMounts: this.#o.extraMounts,
        cgroupsPath: cgroupsPath(spec.id, spec.project),
        cpu: spec.cpu,
        memoryMiB: enforced.memoryMiB + enforced.memoryOverheadMiB,
        shmMiB: spec.memoryMiB,
        pids: enforced.hostPids,
        guestLimits: this.#o.guestLimits ? { pids: spec.pids, memoryMiB: spec.memoryMiB } : null,
        userNamespace: this.description.idmappedRootfs ? spec.hostIds : undefined,
        netnsPath: spec.network.kind === 'netns' ? spec.network.path : undefined,
        seccomp: this.#o.seccomp.profile,
        capabilities: this.#o.capabilities,
      });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      const pidFile = join(bundle, 'init.pid');
      // One `run --detach` instead of `create` + `start`: one runtime process less per sandbox (runc
      // ~10 ms, runsc ~50 ms here); the shim still holds the container's stdio pipes.
      let argv = [...this.#cli(), 'run', '--detach', '--bundle', bundle, '--pid-file', pidFile, spec.id];
      if (spec.network.kind === 'netns' && this.#o.wrapForNetns) argv = this.#o.wrapForNetns(argv, spec.network.path);
      const shimPid = await startShim(this.#socket(spec.id), argv, { cgroupProcs });
      recordShim(join(bundle, 'shim.pid'), shimPid);
      release();
      return this.#handle(spec.id, enforced);
    } catch (e) {
      release();
      await this.destroy(spec.id).catch((cleanupError: unknown) =>
        this.#o.log.error({ sandbox: spec.id, err: cleanupError }, 'cleanup after a failed start failed'),
      );
      throw runtimeError(`${this.name} could not start sandbox ${spec.id}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  async adopt(id: string, spec: RuntimeSpec): Promise<SandboxHandle | undefined> {
    if ((await this.status(id)) !== 'running') return undefined;
    return this.#handle(id, this.#o.enforce(spec));
  }

  async status(id: string): Promise<RuntimeStatus> {
    const r = await runCommand([...this.#cli(), 'state', id], { timeoutMs: 30_000 });
    if (r.code !== 0) return 'absent';
    try {
      const state = (JSON.parse(r.stdout) as { status?: string }).status;
      return state === 'running' || state === 'created' || state === 'paused' ? 'running' : 'stopped';
    } catch {
      return 'absent';
    }
  }

  async stop(id: string): Promise<void> {
    // SIGKILL to the container's init ends its pid namespace: the kernel (runc) or the sentry
    // (runsc) kills every other process in it.
    const r = await runCommand([...this.#cli(), 'kill', id, 'KILL'], { timeoutMs: 30_000, cgroupProcs: sandboxOps(id) });
    if (r.code !== 0 && (await this.status(id)) === 'running') {
      throw runtimeError(`${this.name} kill of ${id} failed: ${r.stderr.trim().slice(-500)}`);
    }
  }

  async destroy(id: string): Promise<void> {
    const cgroupProcs = sandboxOps(id);
    await runCommand([...this.#cli(), 'kill', id, 'KILL'], { timeoutMs: 30_000, cgroupProcs });
    const del = await runCommand([...this.#cli(), 'delete', '--force', id], { timeoutMs: 60_000, cgroupProcs });
    const socket = this.#socket(id);
    const shim = recordedShim(join(this.#bundleDir(id), 'shim.pid'), socket);
    if (shim !== undefined) await stopShim(shim, socket);
    rmSync(socket, { force: true });
    rmSync(this.#bundleDir(id), { recursive: true, force: true });
    const leftover = removeSandboxCgroups(id);
    if (del.code !== 0 && !/does not exist|not exist|no such/i.test(del.stderr)) {
      throw runtimeError(`${this.name} delete of ${id} failed: ${del.stderr.trim().slice(-500)}`);
    }
    if (leftover.length > 0) throw runtimeError(`cgroups of ${id} could not be removed: ${leftover.join(', ')}`);
  }

  async list(): Promise<string[]> {
    if (!existsSync(this.#root)) return [];
    const r = await runCommand([...this.#cli(), 'list', '--format', 'json'], { timeoutMs: 30_000 });
    if (r.code !== 0) throw runtimeError(`${this.#o.binary} list failed: ${r.stderr.trim()}`);
    const parsed = JSON.parse(r.stdout || 'null') as { id: string }[] | null;
    return (parsed ?? []).map((c) => c.id);
  }

  #handle(id: string, enforced: EnforcedLimits): SandboxHandle {
    return new CgroupSandboxHandle({ id, transport: new UnixSocketTransport(this.#socket(id)), enforced, oomEndsSandbox: this.#o.oomEndsSandbox });
  }

  #cli(): string[] {
    return [this.#o.binary, '--root', this.#root, ...this.#o.globalArgs];
  }

  #bundleDir(id: string): string {
    return join(this.#o.stateDir, 'bundles', id);
  }

  #socket(id: string): string {
    return join(this.#o.stateDir, 'sockets', `${id}.sock`);
  }
}
