/**
 * @module weakened-runtime
 * TEST ONLY: runc with exactly one of its defence layers taken away, one variant per layer:
 *   runc-no-userns   no user namespace (root inside is host root, with the usual seven capabilities and the seccomp profile)
 *   runc-no-seccomp  no seccomp filter (user namespace and capabilities as usual)
 *   runc-all-caps    every capability (inside the user namespace, under the usual seccomp profile)
 * The security suite runs its probes in each, inside a real sandbox: a probe that gets through in a
 * variant is one that the removed layer alone stops (the other layers do not), which is both a
 * positive control (the probe can fail inside a sandbox) and the per-layer figure of the scoreboard.
 * Never offered by a server: it is injected into a test server through startServer's createRuntime.
 */
import { join } from 'node:path';
import { createRuntime } from '@airlock/server/internal/runtimes/registry.js';
import { hostLimits } from '@airlock/server/internal/runtimes/enforced-limits.js';
import { CAPABILITIES } from '@airlock/server/internal/runtimes/oci-spec.js';
import { OciCliRuntime } from '@airlock/server/internal/runtimes/oci-cli-runtime.js';
import type { RuntimeDescription } from '@airlock/server/internal/runtimes/runtime.js';
import { buildSeccompProfile, type OciSeccomp } from '@airlock/server/internal/runtimes/seccomp-profile.js';

const ALLOW_ALL: OciSeccomp = {
  defaultAction: 'SCMP_ACT_ALLOW',
  defaultErrnoRet: 1,
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [],
};

/** Every capability runc 1.1 knows (CAP_CHOWN … CAP_CHECKPOINT_RESTORE). */
const ALL_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
].map((c) => `CAP_${c}`);

/** runc as registry.ts builds it, for the fields a variant does not change. */
const RUNC: RuntimeDescription = {
  isolation: 'namespaces',
  rootfs: ['directory'],
  idmappedRootfs: true,
  rootInside: true,
  pulledImages: true,
  network: ['none'],
};

interface Weakening {
  userNamespace: boolean;
  seccomp: 'hardened' | 'none';
  capabilities: readonly string[];
}

export interface LayerVariant {
  variant: string;
  removed: string;
  createRuntime: typeof createRuntime;
}

function weakened(w: Weakening): typeof createRuntime {
  return (name, config, native, seccompSource, log) => {
    if (name !== 'runc') return createRuntime(name, config, native, seccompSource, log);
    const seccomp =
      w.seccomp === 'none'
        ? { profile: ALLOW_ALL }
        : 'profile' in seccompSource
          ? { profile: buildSeccompProfile(seccompSource.profile, CAPABILITIES, { honoursErrnoRet: true }) }
          : seccompSource;
    return new OciCliRuntime({
      name,
      binary: 'runc',
      globalArgs: [],
      extraMounts: [],
      stateDir: join(config.runtimeStateDir, name),
      agentBinary: native.agent,
      seccomp,
      capabilities: w.capabilities,
      // Without a user namespace there is no id-mapped rootfs: root inside is host root.
      description: { ...RUNC, idmappedRootfs: w.userNamespace },
      enforce: hostLimits,
      oomEndsSandbox: false,
      guestLimits: false,
      log,
    });
  };
}

export const LAYER_VARIANTS: readonly LayerVariant[] = [
  {
    variant: 'runc-no-userns',
    removed: 'the user namespace (root inside is host root; seccomp and the seven capabilities stay)',
    createRuntime: weakened({ userNamespace: false, seccomp: 'hardened', capabilities: CAPABILITIES }),
  },
  {
    variant: 'runc-no-seccomp',
    removed: 'the seccomp filter (user namespace and capabilities stay)',
    createRuntime: weakened({ userNamespace: true, seccomp: 'none', capabilities: CAPABILITIES }),
  },
  {
    variant: 'runc-all-caps',
    removed: 'the capability bound: all 41 capabilities (user namespace and seccomp stay)',
    createRuntime: weakened({ userNamespace: true, seccomp: 'hardened', capabilities: ALL_CAPABILITIES }),
  },
];
