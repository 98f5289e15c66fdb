/**
 * @module wire
 * Domain objects → the wire (packages/protocol). The one place that decides what a client sees of a
 * record: environment values, slots and pool keys never leave the server.
 */
import type { Image, Sandbox } from '@airlock/protocol';
import type { ImageView } from '../images/catalog.js';
import type { SandboxView } from '../sandbox/service.js';

export function sandboxToWire(r: SandboxView): Sandbox {
  return {
    id: r.id,
    state: r.state,
    runtime: r.runtime,
    image: r.image,
    imageId: r.imageId,
    cpu: r.cpu,
    memoryMiB: r.memoryMiB,
    pids: r.pids,
    diskMiB: r.diskMiB,
    timeout: r.timeout,
    metadata: r.metadata,
    envKeys: Object.keys(r.env),
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    expiresAt: r.expiresAt,
    stopReason: r.stopReason,
    stopDetail: r.stopDetail,
    project: r.project,
    enforced: r.enforced,
    network: r.network
      ? {
          egress: r.network.settings.egress,
          peers: r.network.settings.peers,
          bandwidthMbit: r.network.settings.bandwidthMbit,
          publicPorts: r.network.settings.publicPorts,
          address: r.networkAddress,
        }
      : null,
    agent: r.agent,
  };
}

export function imageToWire(image: ImageView): Image {
  return {
    id: image.id,
    repository: image.repository,
    references: image.references,
    config: image.config,
    layers: image.layers.map(({ digest, mediaType, size, diffId }) => ({ digest, mediaType, size, diffId })),
    size: image.size,
    unpackedBytes: image.unpackedBytes,
    inUse: image.inUse,
    createdAt: image.createdAt,
    lastUsedAt: image.lastUsedAt,
  };
}
