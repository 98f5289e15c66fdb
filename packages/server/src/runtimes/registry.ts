/**
 * @module registry
 * The runtimes this server offers, built from config, and which of them work on this host.
 */
import { join } from 'node:path';
import type { RuntimeName } from '@airlock/protocol';
import type { Config } from '../config.js';
import type { NativeFiles } from '../host/data-dir.js';
import { STATX_COMPAT_IN_SANDBOX } from './oci-spec.js';
import type { Logger } from '../log.js';
import { OciCliRuntime } from './oci-cli-runtime.js';
import type { Availability, Runtime } from './runtime.js';

export function createRuntime(name: RuntimeName, config: Config, native: NativeFiles, log: Logger): Runtime {
  const common = { stateDir: join(config.runtimeStateDir, name), agentReadyTimeoutMs: config.agentReadyTimeoutMs, agentBinary: native.agent, log };
  switch (name) {
    case 'runc':
      return new OciCliRuntime({
        ...common,
        name,
        binary: 'runc',
        globalArgs: [],
        extraMounts: [],
        capabilities: { ownKernel: false, userNamespace: true, oomKillsSandbox: false, slowTeardown: false },
      });
    case 'gvisor':
      return new OciCliRuntime({
        ...common,
        name,
        binary: 'runsc',
        // ptrace: the platform that works on these hosts (KVM guests hang); no network until egress
        // policies exist.
        globalArgs: ['--platform=ptrace', '--network=none'],
        // Debian's 2022 runsc rejects statx with AT_NO_AUTOMOUNT, which coreutils' ls -l and stat
        // pass; a preloaded library clears the flag (packages/agent/native/statx-compat.c).
        extraMounts: [
          { destination: STATX_COMPAT_IN_SANDBOX, type: 'bind', source: native.statxCompat, options: ['bind', 'ro', 'nosuid', 'nodev'] },
          { destination: '/etc/ld.so.preload', type: 'bind', source: native.ldPreload, options: ['bind', 'ro', 'nosuid', 'nodev'] },
        ],
        capabilities: { ownKernel: true, userNamespace: false, oomKillsSandbox: true, slowTeardown: true },
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
