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
import { loadConfig } from '@airlock/server/internal/config.js';
import { installNative } from '@airlock/server/internal/host/data-dir.js';
import { readSystemSeccompProfile } from '@airlock/server/internal/host/seccomp-source.js';
import { BtrfsSnapshotter } from '@airlock/server/internal/images/btrfs-snapshotter.js';
import { DefaultImage } from '@airlock/server/internal/images/default-image.js';
import type { RuntimeSpec } from '@airlock/server/internal/runtimes/runtime.js';
import { idmapFor } from '@airlock/server/internal/sandbox/create.js';
import { STATX_COMPAT_IN_SANDBOX } from '@airlock/server/internal/runtimes/oci-spec.js';
import { createRuntime } from '@airlock/server/internal/runtimes/registry.js';
import type { ContractSubject } from '@airlock/server/internal/runtimes/runtime-contract.js';
import { newDataDir, recordSandbox } from './harness.js';

export function realRuntimeSubject(name: RuntimeName, skip: ContractSubject['skip'] = []): ContractSubject {
  const dataDir = newDataDir(`contract-${name}`);
  // As the server's data dir: sandboxes with a user namespace must traverse to the image and agent.
  chmodSync(dataDir, 0o711);
  const config = loadConfig({ dataDir, runtimes: [name] });
  const native = installNative(dataDir, { agent: AGENT_BINARY, statxCompat: STATX_COMPAT_LIBRARY }, STATX_COMPAT_IN_SANDBOX);
  const seccomp = readSystemSeccompProfile();
  const log = pino({ level: 'warn' });
  let image: Promise<{ image: DefaultImage; snapshotter: BtrfsSnapshotter }> | undefined;
  const opened = () =>
    (image ??= (async () => {
      const snapshotter = await BtrfsSnapshotter.open(join(dataDir, 'images', 'store'), 2 * 1024 ** 3);
      const img = new DefaultImage(join(dataDir, 'images'), snapshotter);
      await img.init();
      return { image: img, snapshotter };
    })());
  const specs = new Map<string, RuntimeSpec>();
  let slot = 0;
  return {
    name,
    skip,
    make: () => createRuntime(name, config, native, seccomp, log),
    spec: async (id) => {
      const known = specs.get(id);
      if (known) return known;
      recordSandbox(id);
      const s = 900 + slot++;
      const hostIds = { base: config.hostIds.base + s * config.hostIds.size, size: config.hostIds.size };
      const runtime = createRuntime(name, config, native, seccomp, log);
      const rootfs = await (await opened()).image.prepare('default', id, { memoryMiB: 256, diskMiB: 256, idmap: idmapFor(runtime.description, hostIds) });
      const spec: RuntimeSpec = { id, rootfs, cpu: 1, memoryMiB: 256, pids: 128, hostIds, network: { kind: 'none' } };
      specs.set(id, spec);
      return spec;
    },
    cleanup: async () => {
      if (!image) return;
      const { image: img, snapshotter } = await image;
      for (const id of specs.keys()) await img.release(id);
      await snapshotter.close();
    },
  };
}
