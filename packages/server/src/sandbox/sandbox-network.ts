/**
 * @module sandbox-network
 * A sandbox's network as its API sees it: the policy (read and replaced at run time), its audit
 * events, and where an exposed port is reached, behind the sandbox's ports token.
 */
import { timingSafeEqual } from 'node:crypto';
import type { NetworkEvent, NetworkSettings } from '@airlock/protocol';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../errors.js';
import type { NetworkService } from '../network/network-service.js';
import type { SandboxNetwork, SandboxRecord, SandboxStore } from '../store/store.js';
import { requireState } from './lifecycle.js';

export interface SandboxNetworksDeps {
  sandboxes: SandboxStore;
  network: NetworkService | undefined;
  /** The sandbox as users see it (404 for one they cannot). */
  get(id: string): Promise<SandboxRecord>;
}

export class SandboxNetworks {
  readonly #d: SandboxNetworksDeps;

  constructor(deps: SandboxNetworksDeps) {
    this.#d = deps;
  }

  /** A running sandbox's network settings replace the previous ones; a failure leaves those in force. */
  async update(id: string, settings: NetworkSettings): Promise<NetworkView> {
    const record = await this.#d.get(id);
    requireState('update the network of', id, record.state, 'running');
    const net = this.#d.network;
    if (!record.network || !net?.attachmentOf(id))
      throw new AirlockError(ErrorCode.InvalidState, `sandbox ${id} was created without a network; create it with "network" to change its policy later`);
    await net.update(id, settings, record.project);
    const network = { ...record.network, settings };
    await this.#d.sandboxes.update(id, { network });
    return networkView(id, network, net);
  }

  async view(id: string): Promise<NetworkView> {
    const record = await this.#d.get(id);
    if (!record.network) throw new AirlockError(ErrorCode.InvalidState, `sandbox ${id} has no network (it was created without one)`);
    return networkView(id, record.network, this.#d.network);
  }

  async events(id: string, since = 0): Promise<{ events: NetworkEvent[]; dropped: number }> {
    const record = await this.#d.get(id);
    if (!record.network) throw new AirlockError(ErrorCode.InvalidState, `sandbox ${id} has no network (it was created without one)`);
    return this.#d.network?.events(id, since) ?? { events: [], dropped: 0 };
  }

  /**
   * Where an exposed port of a running sandbox is reached from the host side (its address on its
   * own link), once the caller showed the sandbox's ports token or the ports are public.
   */
  async portTarget(id: string, port: number, token: string | undefined): Promise<{ host: string; port: number }> {
    const record = await this.#d.get(id);
    const address = this.#d.network?.attachmentOf(id)?.address;
    if (!record.network || !address)
      throw new AirlockError(ErrorCode.InvalidState, `sandbox ${id} has no network, so no ports can be reached (create it with "network")`);
    requireState('reach a port of', id, record.state, 'running');
    if (!record.network.settings.publicPorts && !tokenMatches(token, record.network.portsToken)) {
      throw new AirlockError(ErrorCode.Unauthenticated, `the ports of sandbox ${id} need its ports token (GET /v1/sandboxes/${id}/network)`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AirlockError(ErrorCode.InvalidRequest, `port ${port} is not a TCP port`);
    return { host: address, port };
  }
}

export type NetworkView = NetworkSettings & { address: string | null; portsToken: string };

function networkView(id: string, n: SandboxNetwork, net: NetworkService | undefined): NetworkView {
  return { ...n.settings, address: net?.attachmentOf(id)?.address ?? null, portsToken: n.portsToken };
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
