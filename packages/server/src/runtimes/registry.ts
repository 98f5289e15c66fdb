/**
 * @module registry
 * The runtimes this server offers, built from config, and which of them work on this host.
 */
import { join } from 'node:path';
import type { RuntimeName } from '@airlock/protocol';
import type { Config } from '../config.js';
import type { NativeFiles } from '../host/data-dir.js';
import type { SeccompSource } from '../host/seccomp-source.js';
import { CAPABILITIES, STATX_COMPAT_IN_SANDBOX } from './oci-spec.js';
import type { Logger } from '../log.js';
import { withNetstackWorkaround } from '../host/netstack-workaround.js';
import { BwrapRuntime } from './bwrap-runtime.js';
import { MicrovmRuntime } from './microvm/microvm-runtime.js';
import { gvisorLimits, hostLimits } from './enforced-limits.js';
import { OciCliRuntime } from './oci-cli-runtime.js';
import type { Availability, Runtime } from './runtime.js';
import { buildSeccompProfile } from './seccomp-profile.js';

export function createRuntime(name: RuntimeName, config: Config, native: NativeFiles, seccompSource: SeccompSource, log: Logger): Runtime {
  const seccomp =
    'profile' in seccompSource
      ? { profile: buildSeccompProfile(seccompSource.profile, CAPABILITIES, { honoursErrnoRet: name !== 'gvisor', sentryNames: name === 'gvisor' }) }
      : seccompSource;
  const common = { stateDir: join(config.runtimeStateDir, name), agentBinary: native.agent, seccomp, log };
  switch (name) {
    case 'runc':
      return new OciCliRuntime({
        ...common,
        name,
        binary: 'runc',
        globalArgs: [],
        extraMounts: [],
        description: { isolation: 'namespaces', rootfs: ['directory'], idmappedRootfs: true, rootInside: true, pulledImages: true, network: ['none', 'netns'] },
        enforce: hostLimits,
        // The agent has the lowest OOM score in the sandbox: the limit ended it only if it killed the agent.
        oomEndsSandbox: false,
        guestLimits: false,
      });
    case 'gvisor':
      return new OciCliRuntime({
        ...common,
        name,
        binary: 'runsc',
        // ptrace: the platform that works on these hosts (KVM guests hang). --network=none unless the
        // sandbox joins a prepared namespace; then netstack (never hostinet), see wrapForNetns. --oci-seccomp: without it runsc ignores the spec's profile, and we want
        // the same syscall policy inside the sentry as on runc (a second layer, not the boundary).
        globalArgs: ['--platform=ptrace', '--network=none', '--oci-seccomp'],
        // Debian's 2022 runsc rejects statx with AT_NO_AUTOMOUNT, which coreutils' ls -l and stat
        // pass; a preloaded library clears the flag (packages/agent/native/statx-compat.c).
        extraMounts: [
          // gVisor adds /dev/fuse and /dev/net/tun of its own; a sandbox needs neither (no FUSE, no
          // network), and each is sentry code an attacker could reach. Hide them.
          { destination: '/dev/net', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'size=4k', 'mode=755'] },
          { destination: '/dev/fuse', type: 'bind', source: native.empty, options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] },
          { destination: STATX_COMPAT_IN_SANDBOX, type: 'bind', source: native.statxCompat, options: ['bind', 'ro', 'nosuid', 'nodev'] },
          { destination: '/etc/ld.so.preload', type: 'bind', source: native.ldPreload, options: ['bind', 'ro', 'nosuid', 'nodev'] },
        ],
        description: {
          isolation: 'user-space-kernel',
          rootfs: ['directory'],
          idmappedRootfs: false,
          rootInside: true,
          pulledImages: true,
          network: ['none', 'netns'],
        },
        // gVisor's own network stack in the sandbox's namespace: --network=sandbox, with runsc run
        // in a private mount namespace that hides /proc/sys/net (host/netstack-workaround.ts).
        wrapForNetns: (argv) => withNetstackWorkaround(argv.map((a) => (a === '--network=none' ? '--network=sandbox' : a))),
        enforce: gvisorLimits,
        // The sentry holds all of the guest's memory: a host OOM kill there ends the whole sandbox.
        oomEndsSandbox: true,
        guestLimits: true,
      });
    case 'bwrap':
      return new BwrapRuntime(common);
    case 'microvm':
      return new MicrovmRuntime({
        stateDir: common.stateDir,
        vmRoot: join(config.dataDir, 'vm'),
        sharedDir: join(config.dataDir, 'images', 'vm'),
        agentBinary: native.agent,
        vm: config.vm,
        log,
      });
  }
}

export class RuntimeRegistry {
  readonly #runtimes = new Map<RuntimeName, Runtime>();
  readonly #availability = new Map<RuntimeName, Availability>();

  constructor(runtimes: Runtime[]) {
    for (const r of runtimes) this.#runtimes.set(r.name, r);
  }

  async probe(): Promise<void> {
    for (const [name, r] of this.#runtimes) this.#availability.set(name, await r.availability());
  }

  get(name: RuntimeName): Runtime | undefined {
    return this.#runtimes.get(name);
  }

  all(): Runtime[] {
    return [...this.#runtimes.values()];
  }

  availability(name: RuntimeName): Availability {
    return this.#availability.get(name) ?? { available: false, reason: `runtime ${name} is not enabled on this server` };
  }

  /** The first available runtime in configured order of preference. */
  preferred(): RuntimeName | undefined {
    for (const name of this.#runtimes.keys()) if (this.availability(name).available) return name;
    return undefined;
  }
}
