/**
 * @module real-runtime-subject
 * The runtime contract suite's subject for a real runtime: the runtime as the server builds it, in a
 * data dir of the test root, with the default image as its root filesystem.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BINARY, STATX_COMPAT_LIBRARY } from '@airlock/agent';
import type { RuntimeName } from '@airlock/protocol';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { installNative } from '../host/data-dir.js';
import { readSystemSeccompProfile } from '../host/seccomp-source.js';
import { DefaultImage } from '../images/default-image.js';
import { STATX_COMPAT_IN_SANDBOX } from '../runtimes/oci-spec.js';
import { createRuntime } from '../runtimes/registry.js';
import type { ContractSubject } from '../runtimes/runtime-contract.js';
import { newDataDir, recordSandbox } from './harness.js';

export function realRuntimeSubject(name: RuntimeName, skip: ContractSubject['skip'] = []): ContractSubject {
  const dataDir = newDataDir(`contract-${name}`);
  // As the server's data dir: sandboxes with a user namespace must traverse to the image and agent.
  chmodSync(dataDir, 0o711);
  const config = loadConfig({ dataDir, runtimes: [name] });
  const native = installNative(dataDir, { agent: AGENT_BINARY, statxCompat: STATX_COMPAT_LIBRARY }, STATX_COMPAT_IN_SANDBOX);
  const seccomp = readSystemSeccompProfile();
  const log = pino({ level: 'warn' });
  const image = new DefaultImage(join(dataDir, 'images'));
  let slot = 0;
  return {
    name,
    skip,
    make: () => createRuntime(name, config, native, seccomp, log),
    spec: async (id) => {
      recordSandbox(id);
      const s = 900 + slot++;
      const hostIds = { base: config.hostIds.base + s * config.hostIds.size, size: config.hostIds.size };
      const rootfs = await image.prepare('default', id, { memoryMiB: 256, diskMiB: 256, idmap: undefined });
      return { id, rootfs, cpu: 1, memoryMiB: 256, pids: 128, hostIds, network: { kind: 'none' } };
    },
  };
}
