/**
 * @module weakened-runtime
 * TEST ONLY: a runc sandbox with the two layers the hardening adds taken away (no user namespace, so
 * root inside is host root with the spec's capabilities, and no seccomp filter). The security suite
 * runs its probes here as a second positive control, inside a real sandbox: a probe the hardening
 * blocks should fire here, which shows that the probe can fail and which layer stops it. Never
 * offered by a server: it is injected into a test server through startServer's createRuntime.
 */
import { join } from 'node:path';
import { createRuntime } from '../runtimes/registry.js';
import { hostLimits } from '../runtimes/enforced-limits.js';
import { OciCliRuntime } from '../runtimes/oci-cli-runtime.js';
import type { OciSeccomp } from '../runtimes/seccomp-profile.js';

const ALLOW_ALL: OciSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [] };

export const weakenedRuntimes: typeof createRuntime = (name, config, native, seccompSource, log) => {
  if (name !== 'runc') return createRuntime(name, config, native, seccompSource, log);
  return new OciCliRuntime({
    name,
    binary: 'runc',
    globalArgs: [],
    extraMounts: [],
    stateDir: join(config.runtimeStateDir, name),
    agentBinary: native.agent,
    seccomp: { profile: ALLOW_ALL },
    // No user namespace: root inside is host root with the spec's capabilities.
    description: { isolation: 'namespaces', rootfs: ['directory'], idmappedRootfs: false, rootInside: true, pulledImages: false, network: ['none'] },
    enforce: hostLimits,
    oomEndsSandbox: false,
    log,
  });
};
