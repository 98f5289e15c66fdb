/**
 * @module network
 * Wire schemas for a sandbox's network: its egress policy, whether sandboxes of its project may
 * reach it (peers), an optional bandwidth cap, whether its exposed ports need a token, and the
 * egress audit. The entry grammar is checked by the server
 * (the message names the entry); the schemas here only bound the shape.
 *
 * An entry is `<target>[:<port>|:<lo>-<hi>][/tcp|/udp]`, where the target is a domain
 * (`pypi.org`), a wildcard that covers the subdomains of a name (`*.githubusercontent.com`, which
 * does not cover `githubusercontent.com` itself), an IPv4 address or an IPv4 CIDR. Without a port
 * every port is covered; without a protocol both TCP and UDP are.
 */
import { z } from 'zod';

export const NETWORK_LIMITS = {
  /** Allow plus deny entries of one policy. */
  maxEntries: 256,
  maxEntryLength: 300,
  maxBandwidthMbit: 100_000,
  /** Audit events kept per sandbox; older ones are dropped first. */
  auditEvents: 1000,
} as const;

const Entry = z.string().min(1).max(NETWORK_LIMITS.maxEntryLength);

export const EgressRules = z
  .object({
    allow: z.array(Entry).max(NETWORK_LIMITS.maxEntries).default([]).describe('Destinations the sandbox may reach'),
    deny: z.array(Entry).max(NETWORK_LIMITS.maxEntries).default([]).describe('Destinations it may not, even when an allow entry covers them (deny wins)'),
  })
  .strict()
  .meta({ id: 'EgressRules' });

export const EgressPolicy = z
  .union([z.literal('none'), z.literal('all'), EgressRules])
  .describe(
    '"none": loopback only. "all": the internet, but never the host, link-local and metadata addresses, private ranges or other sandboxes. ' +
      'Or an allow list with optional deny entries.',
  )
  .meta({ id: 'EgressPolicy' });
export type EgressPolicy = z.infer<typeof EgressPolicy>;

/** Who among the other sandboxes may reach this one (and be reached by it): nobody, or the same project's. */
export const PEER_MODES = ['none', 'project'] as const;
export const Peers = z
  .enum(PEER_MODES, { error: 'must be "none" (no other sandbox, the default) or "project" (sandboxes of the same project that chose "project" too)' })
  .describe(
    '"none": no other sandbox reaches this one or is reached by it. "project": sandboxes of the same project that also chose "project" reach each other (both ends opt in).',
  )
  .meta({ id: 'Peers' });
export type Peers = z.infer<typeof Peers>;

export const NetworkSettings = z
  .object({
    egress: EgressPolicy.default('none'),
    peers: Peers.default('none'),
    bandwidthMbit: z
      .number()
      .positive()
      .max(NETWORK_LIMITS.maxBandwidthMbit)
      .nullable()
      .default(null)
      .describe("Cap on the sandbox's traffic in each direction, Mbit/s; null for none"),
    publicPorts: z.boolean().default(false).describe("Exposed ports answer without the sandbox's access token"),
  })
  .strict()
  .meta({ id: 'NetworkSettings' });
/** As a client sends it (every field optional). */
export type NetworkSettingsInput = z.input<typeof NetworkSettings>;
/** As the server holds it (defaults filled in). */
export type NetworkSettings = z.output<typeof NetworkSettings>;

export const NetworkState = z
  .object({
    egress: EgressPolicy,
    peers: Peers,
    bandwidthMbit: z.number().nullable(),
    publicPorts: z.boolean(),
    address: z.string().nullable().describe("The sandbox's IPv4 address on its own link to the host"),
  })
  .meta({ id: 'NetworkState' });
export type NetworkState = z.infer<typeof NetworkState>;

export const NetworkDetails = NetworkState.extend({
  portsToken: z.string().describe("Opens the sandbox's exposed ports: header x-airlock-ports-token, or ?airlock_token= (not needed when publicPorts)"),
}).meta({ id: 'NetworkDetails' });
export type NetworkDetails = z.infer<typeof NetworkDetails>;

export const NetworkEventsQuery = z.object({
  since: z.coerce.number().int().min(0).optional().describe('Only events with seq >= since'),
});

export const NETWORK_VERDICTS = ['allowed', 'denied'] as const;

export const NetworkEvent = z
  .object({
    seq: z.number().int().describe('Increases by one per event of this sandbox; a gap means events were dropped'),
    time: z.string().describe('RFC 3339'),
    kind: z.enum(['dns', 'connect']),
    verdict: z.enum(NETWORK_VERDICTS),
    name: z.string().optional().describe('The DNS question, or the Host / SNI name of a connection'),
    type: z.string().optional().describe('DNS record type (A, AAAA, TXT, …)'),
    address: z.string().optional().describe('Destination address, when known'),
    port: z.number().int().optional(),
    protocol: z.enum(['tcp', 'udp']).optional(),
    reason: z.string().optional().describe('Why it was denied, or which path allowed it'),
  })
  .meta({ id: 'NetworkEvent' });
export type NetworkEvent = z.infer<typeof NetworkEvent>;

export const NetworkEventList = z
  .object({ events: z.array(NetworkEvent), dropped: z.number().int().describe('Events no longer kept (the ring is bounded)') })
  .meta({ id: 'NetworkEventList' });
export type NetworkEventList = z.infer<typeof NetworkEventList>;
