/**
 * @module options
 * Parsers for flag values (`K=V`, numbers) and the resource flags shared by `run` and `create`.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { RUNTIMES, type RuntimeName } from '@airlock/protocol/states';
import type { NetworkSettings, NetworkSettingsInput } from '@airlock/protocol';
import type { SandboxCreateParams } from '@airlock/sdk';

/** Splits `K=V` at the first `=`; the value may be empty or contain `=`. */
export function parseKeyValue(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(text)}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** A commander collector for repeatable `--flag K=V`: later values of a key win. */
export function collectKeyValue(text: string, previous: Record<string, string> | undefined): Record<string, string> {
  const [key, value] = parseKeyValue(text);
  return { ...previous, [key]: value };
}

export function parseInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new InvalidArgumentError('expected a whole number');
  return value;
}

export function parsePositive(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a positive number');
  return value;
}

export interface ResourceOptions {
  runtime?: RuntimeName;
  image?: string;
  memory?: number;
  disk?: number;
  cpus?: number;
  env?: Record<string, string>;
  allow?: string[];
  deny?: string[];
  network?: 'none' | 'all';
  peers?: 'none' | 'project';
}

function collect(text: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), text];
}

export function parsePeers(text: string): 'none' | 'project' {
  if (text !== 'none' && text !== 'project') throw new InvalidArgumentError('expected none or project');
  return text;
}

function parseNetwork(text: string): 'none' | 'all' {
  if (text !== 'none' && text !== 'all') throw new InvalidArgumentError('expected none or all (or give --allow entries)');
  return text;
}

export function addResourceOptions(command: Command): Command {
  return command
    .option('--runtime <runtime>', `isolation runtime: ${RUNTIMES.join(', ')} (default: the best available)`, parseRuntime)
    .option('--image <image>', 'image to start from: a reference such as python:3.12-slim, pulled on first use (default: "default")')
    .option('--memory <MiB>', 'memory limit in MiB', parseInteger)
    .option('--disk <MiB>', "limit of what the sandbox may write to its filesystem, MiB (default: the server's)", parseInteger)
    .option('--cpus <n>', 'CPU cores, fractions allowed', parsePositive)
    .option('--env <K=V>', 'environment variable for the sandbox (repeatable)', collectKeyValue)
    .option(
      '--allow <entry>',
      'give the sandbox a network that reaches this (repeatable): pypi.org, *.example.com, 10.1.2.0/24:5432, 1.2.3.4:1000-2000/udp',
      collect,
    )
    .option('--deny <entry>', 'but never this, even where an --allow entry covers it (repeatable)', collect)
    .option(
      '--network <none|all>',
      'a network with no egress (ports can still be exposed) or the whole internet (never the host, private ranges or metadata)',
      parseNetwork,
    )
    .option(
      '--peers <none|project>',
      'project: sandboxes of the same project that also chose project reach this one and it reaches them (default none; gives a network)',
      parsePeers,
    );
}

/** The network part of a create from --allow/--deny/--network/--peers; undefined: loopback only. */
export function networkParams(options: Pick<ResourceOptions, 'allow' | 'deny' | 'network' | 'peers'>): SandboxCreateParams['network'] {
  const peers = options.peers === undefined ? {} : { peers: options.peers };
  if (options.allow !== undefined || options.deny !== undefined) {
    if (options.network !== undefined) throw new InvalidArgumentError('give either --network or --allow/--deny entries, not both');
    return { egress: { allow: options.allow ?? [], deny: options.deny ?? [] }, ...peers };
  }
  if (options.network !== undefined) return { egress: options.network, ...peers };
  return options.peers === undefined ? undefined : peers;
}

/**
 * The settings `airlock net set` sends. A PUT replaces every setting, so what the flags do not name
 * comes from the settings in force, except that no egress flag (and no --peers) means egress none.
 */
export function netSetSettings(current: NetworkSettings, flags: Pick<ResourceOptions, 'allow' | 'deny' | 'network' | 'peers'>): NetworkSettingsInput {
  const { peers, ...egressFlags } = flags;
  const given = networkParams(egressFlags);
  return {
    egress: given?.egress ?? (peers === undefined ? 'none' : current.egress),
    peers: peers ?? current.peers,
    bandwidthMbit: current.bandwidthMbit,
    publicPorts: current.publicPorts,
  };
}

/** The create body for the resource flags; `timeout` is the sandbox's lifetime in seconds. */
export function createParams(options: ResourceOptions, timeout?: number, labels?: Record<string, string>): SandboxCreateParams {
  const params: SandboxCreateParams = {};
  if (options.runtime !== undefined) params.runtime = options.runtime;
  if (options.image !== undefined) params.image = options.image;
  if (options.memory !== undefined) params.memoryMiB = options.memory;
  if (options.disk !== undefined) params.diskMiB = options.disk;
  if (options.cpus !== undefined) params.cpu = options.cpus;
  if (options.env !== undefined) params.env = options.env;
  if (timeout !== undefined) params.timeout = timeout;
  if (labels !== undefined) params.metadata = labels;
  const network = networkParams(options);
  if (network !== undefined) params.network = network;
  return params;
}

export function parseRuntime(text: string): RuntimeName {
  const known = RUNTIMES.find((r) => r === text);
  if (known === undefined) throw new InvalidArgumentError(`expected one of ${RUNTIMES.join(', ')}`);
  return known;
}
