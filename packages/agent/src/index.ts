/**
 * @module @airlock/agent
 * Host side of the agent protocol: framing and payload codecs. The native agent and shim live in
 * ../native and are built by `make -C packages/agent/native`.
 */
import { fileURLToPath } from 'node:url';

export * from './frame.js';
export * from './messages.js';

/** Where the build puts the static binaries. */
export const AGENT_BINARY = fileURLToPath(new URL('../build/airlock-agent', import.meta.url));
export const SHIM_BINARY = fileURLToPath(new URL('../build/airlock-shim', import.meta.url));
export const ROOTFS_HELPER = fileURLToPath(new URL('../build/airlock-rootfs', import.meta.url));
export const STATX_COMPAT_LIBRARY = fileURLToPath(new URL('../build/airlock-statx-compat.so', import.meta.url));
/** Host-side: compiles a seccomp policy into the BPF program bubblewrap loads (links libseccomp). */
export const SECCOMP_COMPILER = fileURLToPath(new URL('../build/airlock-seccomp-compile', import.meta.url));
export * from './messages-ops.js';
