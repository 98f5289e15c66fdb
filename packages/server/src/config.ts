/**
 * @module config
 * The one place that reads the environment and the config file. Every field has one precedence —
 * flag (an override from the CLI) > environment variable > config file > default — and is resolved
 * once into a typed, validated Config that is passed down explicitly. Every limit the server
 * enforces lives here, so an operator can change it without a rebuild.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { RUNTIMES, type RuntimeName } from '@airlock/protocol';
import { z } from 'zod';
import type { RegistrySettings } from './images/registry-client.js';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** A fixed admin key (AIRLOCK_API_KEY); otherwise one is generated on first start. */
  apiKey: string | undefined;
  /** Runtimes to offer, in order of preference for sandboxes that do not name one. */
  runtimes: RuntimeName[];
  defaults: { cpu: number; memoryMiB: number; diskMiB: number; timeout: number | null; pidsLimit: number };
  limits: {
    maxSandboxes: number;
    maxCpu: number;
    maxMemoryMiB: number;
    maxDiskMiB: number;
    /** Any request body but file uploads and image imports (JSON of any content type included). */
    maxBodyBytes: number;
    /** One file upload. */
    maxWriteBytes: number;
    /** One image import archive. */
    maxImportBytes: number;
    /** Execs and file operations in flight on one sandbox. */
    maxOperationsPerSandbox: number;
    /** Entries one directory listing returns. */
    maxListEntries: number;
    /** Memory of all sandboxes together may reach host memory × this (minus the reserve). */
    memoryOvercommit: number;
    /** vCPUs of all sandboxes together may reach host cores × this. */
    cpuOvercommit: number;
    /** Host memory kept for the server and the host itself, MiB. */
    hostMemoryReserveMiB: number;
  };
  /** The host's size, as admission sees it (from the machine unless configured). */
  machine: { memoryMiB: number; cpus: number };
  /** Deadlines and budgets of the agent channel. */
  agent: {
    /** How long create waits for the agent's first answer. */
    readyTimeoutMs: number;
    /** How long the agent may take to start a command. */
    startTimeoutMs: number;
    /** How long a file operation may wait on the agent without progress. */
    fileIdleMs: number;
    /** How often every live sandbox's agent is pinged (0: never). */
    pingIntervalMs: number;
    /** Missed pings before a sandbox is marked unresponsive. */
    maxMissedPings: number;
    /** Frames and bytes per second read from one sandbox before reading pauses (fair share of the server's CPU). */
    framesPerSecond: number;
    bytesPerSecond: number;
  };
  /** Host uid/gid ranges: sandbox slot n owns [base + n·size, base + (n+1)·size). */
  hostIds: { base: number; size: number };
  /** Sandboxes adopted or cleaned up at once after a restart. */
  reconcileConcurrency: number;
  images: {
    /** Size of the sparse btrfs volume that holds unpacked layers and sandbox root filesystems. */
    volumeBytes: number;
    /** Unused images are evicted (least recently used first) while blobs + volume use exceed this. */
    budgetBytes: number;
    /** Credentials per registry host and hosts allowed over plain HTTP. Never logged or returned. */
    registries: RegistrySettings;
  };
  /** Image builds: the largest context accepted (413 past it) and how many builds run at once. */
  builds: { maxContextBytes: number; maxContextEntries: number; maxConcurrent: number };
  /** Warm pools: started sandboxes kept ready per shape, and how many refills may run at once (the CPU budget). */
  pools: { shapes: PoolConfig[]; refillConcurrency: number; refillDelayMs: number };
  /** Directory that holds runc/runsc state; private to the server (0700). */
  runtimeStateDir: string;
  /** Processes: their output journals, the agent's buffer, the registry's size; the file API's batch bounds. */
  processes: {
    /** Output kept on the server's disk per process (both streams); older output is dropped and says so. */
    journalBytes: number;
    /** Unacknowledged output the agent holds per stream before a process nobody reads blocks. */
    agentBufferBytes: number;
    /** Ended processes kept listed per sandbox. */
    keepExited: number;
    /** A WebSocket ticket's lifetime. */
    ticketTtlMs: number;
    /** One multi-file write: files, and bytes in all. */
    maxBatchFiles: number;
    maxBatchBytes: number;
    /** Entries of one directory archive (tar) going either way. */
    maxArchiveEntries: number;
  };
  network: NetworkConfig;
  /** microVMs (runtime "microvm"). */
  vm: VmConfig;
}

export interface VmConfig {
  /** kvm only where it works, tcg always; auto probes once per host boot. */
  accel: 'auto' | 'kvm' | 'tcg';
  machine: 'microvm' | 'q35';
  /** The guest kernel (vmlinuz-<version>, its modules in /lib/modules/<version>); default: the newest *-cloud-amd64 in /boot. */
  kernel: string | undefined;
  /** How long a guest may take from QEMU's start to its agent's first words (TCG is slow; so is a loaded host). */
  bootTimeoutMs: { kvm: number; tcg: number };
  /** Host memory QEMU itself may use beyond guest RAM (its code, TCG's translation cache, virtiofsd). */
  overheadMiB: number;
  /** Host tasks of one VM (QEMU's threads, virtiofsd's, the launcher's). */
  hostTasks: number;
}

/** Sandbox networks (docs/network.md). */
export interface NetworkConfig {
  /** Off when the host lacks nft/ip, or by config: creates that ask for a network then fail. */
  enabled: boolean;
  /** Private range sandbox links are cut from (a /30 each). */
  subnet: string;
  /** Names this instance's nft table, veths and namespaces; from the data dir unless set. */
  tag: string;
  /** Resolvers the platform DNS and the proxy ask (`ip` or `ip:port`); default: the host's resolv.conf. */
  dnsUpstream: string[];
  /** Interfaces sandbox traffic may leave by; undefined: those holding a default route. */
  uplinks: string[] | undefined;
  /** TCP ports that domain rules are enforced on by name (the transparent proxy). */
  httpPorts: number[];
  tlsPorts: number[];
  /** DNS answers' TTLs are clamped to this range, seconds. */
  ttl: { min: number; max: number };
  /** DNS questions per second per sandbox (sustained, burst). */
  dnsRate: { perSecond: number; burst: number };
  /** When set, exposed ports also answer at `{port}-{id}.{portsDomain}`. */
  portsDomain: string | null;
}

/** One warm pool: `size` sandboxes of this shape are kept started and waiting for a create that matches it. */
export interface PoolConfig {
  runtime: RuntimeName;
  image: string;
  cpu: number;
  memoryMiB: number;
  diskMiB: number;
  size: number;
  /** A Python code context started in each pooled sandbox, these modules imported (interpreter/). */
  codeContext?: { preload: string[] } | undefined;
}

/** What `airlock serve` flags (and tests) may set; each wins over the environment and the file. */
export type ConfigOverrides = Partial<Pick<Config, 'host' | 'port' | 'dataDir' | 'logLevel' | 'apiKey' | 'runtimes'>> & {
  vm?: Partial<VmConfig>;
  registries?: RegistrySettings;
  defaultDiskMiB?: number;
  imageBudgetBytes?: number;
  imageVolumeBytes?: number;
  /** `runtime:size` specs (`airlock serve --pool gvisor:4`): pools of the default image and resources. */
  pools?: string[];
  poolRefillConcurrency?: number;
  poolRefillDelayMs?: number;
  maxSandboxes?: number;
  limits?: Partial<Config['limits']>;
  agent?: Partial<Config['agent']>;
  processes?: Partial<Config['processes']>;
  /** Admission's view of the host (tests give a small host to reach capacity). */
  hostMemoryMiB?: number;
  hostCpus?: number;
  /** `airlock serve --dns-upstream 1.1.1.1 --dns-upstream 9.9.9.9`. */
  dnsUpstream?: string[];
  network?: Partial<Omit<NetworkConfig, 'dnsUpstream'>>;
  buildContextBytes?: number;
};

const Limits = z
  .object({
    maxSandboxes: z.number().int().min(1),
    maxCpu: z.number().positive(),
    maxMemoryMiB: z.number().int().min(32),
    maxDiskMiB: z.number().int().min(16),
    maxBodyBytes: z.number().int().min(1024),
    maxWriteBytes: z.number().int().min(1024),
    maxImportBytes: z.number().int().min(1024),
    maxOperationsPerSandbox: z.number().int().min(1).max(4096),
    maxListEntries: z.number().int().min(1),
    memoryOvercommit: z.number().positive().max(16),
    cpuOvercommit: z.number().positive().max(64),
    hostMemoryReserveMiB: z.number().int().min(0),
  })
  .partial()
  .strict();

const Agent = z
  .object({
    readyTimeoutMs: z.number().int().min(100),
    startTimeoutMs: z.number().int().min(100),
    fileIdleMs: z.number().int().min(100),
    pingIntervalMs: z.number().int().min(0),
    maxMissedPings: z.number().int().min(1),
    framesPerSecond: z.number().int().min(100),
    bytesPerSecond: z.number().int().min(1024 * 1024),
  })
  .partial()
  .strict();

/** The optional JSON config file (AIRLOCK_CONFIG, default /etc/airlock/config.json). */
const ConfigFile = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    runtimes: z.array(z.enum(RUNTIMES)).min(1).optional(),
    registries: z
      .record(
        z.string().min(1),
        z.object({ username: z.string().optional(), password: z.string().optional(), insecure: z.boolean().optional() }).strict(),
      )
      .optional(),
    defaultDiskMiB: z.number().int().min(16).optional(),
    defaultMemoryMiB: z.number().int().min(32).optional(),
    defaultCpu: z.number().positive().optional(),
    defaultTimeout: z.number().int().positive().nullable().optional(),
    defaultPidsLimit: z.number().int().min(16).optional(),
    imageVolumeGiB: z.number().int().min(1).optional(),
    imageBudgetGiB: z.number().positive().optional(),
    pools: z
      .array(
        z
          .object({
            runtime: z.enum(RUNTIMES),
            size: z.number().int().min(0),
            image: z.string().min(1).optional(),
            cpu: z.number().positive().optional(),
            memoryMiB: z.number().int().min(32).optional(),
            diskMiB: z.number().int().min(16).optional(),
            codeContext: z
              .object({ preload: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a module name')).max(32).optional() })
              .strict()
              .optional(),
          })
          .strict(),
      )
      .optional(),
    poolRefillConcurrency: z.number().int().min(1).optional(),
    poolRefillDelayMs: z.number().int().min(0).max(60_000).optional(),
    maxSandboxes: z.number().int().min(1).optional(),
    buildContextMiB: z.number().int().min(1).optional(),
    maxConcurrentBuilds: z.number().int().min(1).optional(),
    limits: Limits.optional(),
    agent: Agent.optional(),
    hostIds: z.object({ base: z.number().int().min(65_536), size: z.number().int().min(1).max(1 << 24) }).strict().optional(),
    reconcileConcurrency: z.number().int().min(1).max(256).optional(),
    processes: z
      .object({
        journalBytes: z.number().int().min(64 * 1024),
        agentBufferBytes: z.number().int().min(64 * 1024).max(16 * 1024 * 1024),
        keepExited: z.number().int().min(1).max(1000),
        ticketTtlMs: z.number().int().min(1000).max(600_000),
        maxBatchFiles: z.number().int().min(1),
        maxBatchBytes: z.number().int().min(1024),
        maxArchiveEntries: z.number().int().min(1),
      })
      .partial()
      .strict()
      .optional(),
    network: z
      .object({
        enabled: z.boolean(),
        subnet: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/),
        tag: z.string().regex(/^[0-9a-f]{6}$/),
        dnsUpstream: z.array(z.string().regex(/^\d+\.\d+\.\d+\.\d+(:\d+)?$/)).min(1),
        uplinks: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/)),
        httpPorts: z.array(z.number().int().min(1).max(65535)).max(16),
        tlsPorts: z.array(z.number().int().min(1).max(65535)).max(16),
        minTtl: z.number().int().min(0),
        maxTtl: z.number().int().min(1),
        dnsQuestionsPerSecond: z.number().positive(),
        portsDomain: z.string().regex(/^[a-z0-9.-]+$/),
      })
      .partial()
      .strict()
      .optional(),
    vm: z
      .object({
        accel: z.enum(['auto', 'kvm', 'tcg']).optional(),
        machine: z.enum(['microvm', 'q35']).optional(),
        kernel: z.string().startsWith('/').optional(),
        bootTimeoutMs: z.object({ kvm: z.number().int().min(1000), tcg: z.number().int().min(1000) }).strict().optional(),
        overheadMiB: z.number().int().min(32).optional(),
        hostTasks: z.number().int().min(16).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const file = readConfigFile(env.AIRLOCK_CONFIG);
  const dataDir = resolve(overrides.dataDir ?? env.AIRLOCK_DATA_DIR ?? '/var/lib/airlock');
  if (!isAbsolute(dataDir)) throw new ConfigError(`data dir ${dataDir} must be absolute`);
  const port = overrides.port ?? intFrom(env.AIRLOCK_PORT, 'AIRLOCK_PORT') ?? file.port ?? 7070;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port ${port} is not a TCP port (0-65535)`);
  const logLevel = overrides.logLevel ?? env.AIRLOCK_LOG_LEVEL ?? file.logLevel ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`log level "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const runtimes = overrides.runtimes ?? listFrom(env.AIRLOCK_RUNTIMES) ?? file.runtimes ?? [...RUNTIMES];
  for (const r of runtimes) {
    if (!(RUNTIMES as readonly string[]).includes(r)) throw new ConfigError(`runtime "${r}" is not one of ${RUNTIMES.join(', ')}`);
  }
  const apiKey = overrides.apiKey ?? (env.AIRLOCK_API_KEY || undefined);
  if (apiKey !== undefined && apiKey.length < 16) throw new ConfigError('AIRLOCK_API_KEY must be at least 16 characters');

  const registries: RegistrySettings = overrides.registries ?? { auth: {}, insecure: [] };
  if (!overrides.registries) {
    for (const [host, r] of Object.entries(file.registries ?? {})) {
      if (r.username !== undefined || r.password !== undefined) {
        if (!r.username || r.password === undefined) throw new ConfigError(`registry ${host}: give both username and password`);
        registries.auth[host] = { username: r.username, password: r.password };
      }
      if (r.insecure) registries.insecure.push(host);
    }
    registries.insecure.push(...(listFrom(env.AIRLOCK_INSECURE_REGISTRIES) ?? []));
  }

  const defaults = {
    cpu: file.defaultCpu ?? 1,
    memoryMiB: file.defaultMemoryMiB ?? 512,
    diskMiB: overrides.defaultDiskMiB ?? intFrom(env.AIRLOCK_DEFAULT_DISK_MIB, 'AIRLOCK_DEFAULT_DISK_MIB') ?? file.defaultDiskMiB ?? 2048,
    timeout: file.defaultTimeout === undefined ? 3600 : file.defaultTimeout,
    pidsLimit: file.defaultPidsLimit ?? 512,
  };
  const limits: Config['limits'] = {
    maxSandboxes: 1000,
    maxCpu: 16,
    maxMemoryMiB: 16 * 1024,
    maxDiskMiB: 256 * 1024,
    maxBodyBytes: 16 * MiB,
    maxWriteBytes: 64 * GiB,
    maxImportBytes: 16 * GiB,
    maxOperationsPerSandbox: 64,
    maxListEntries: 100_000,
    memoryOvercommit: 1,
    cpuOvercommit: 8,
    hostMemoryReserveMiB: 1024,
    ...defined(file.limits),
    ...(file.maxSandboxes !== undefined ? { maxSandboxes: file.maxSandboxes } : {}),
    ...defined(overrides.limits),
    ...(overrides.maxSandboxes !== undefined ? { maxSandboxes: overrides.maxSandboxes } : {}),
  };
  const agent: Config['agent'] = {
    readyTimeoutMs: 10_000,
    startTimeoutMs: 10_000,
    fileIdleMs: 30_000,
    pingIntervalMs: 10_000,
    maxMissedPings: 3,
    framesPerSecond: 20_000,
    bytesPerSecond: 512 * MiB,
    ...defined(file.agent),
    ...defined(overrides.agent),
  };

  const specs = overrides.pools ?? listFrom(env.AIRLOCK_POOLS);
  const shapes: PoolConfig[] = specs
    ? specs.map((spec) => ({ ...parsePoolSpec(spec), image: 'default', cpu: defaults.cpu, memoryMiB: defaults.memoryMiB, diskMiB: defaults.diskMiB }))
    : (file.pools ?? []).map((p) => ({
        runtime: p.runtime,
        size: p.size,
        image: p.image ?? 'default',
        cpu: p.cpu ?? defaults.cpu,
        memoryMiB: p.memoryMiB ?? defaults.memoryMiB,
        diskMiB: p.diskMiB ?? defaults.diskMiB,
        ...(p.codeContext ? { codeContext: { preload: p.codeContext.preload ?? [] } } : {}),
      }));
  const keys = shapes.map((p) => `${p.runtime} ${p.image} ${p.cpu} ${p.memoryMiB} ${p.diskMiB}`);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) throw new ConfigError(`two warm pools have the same shape (${dup}); give each shape one size`);
  const pooled = shapes.reduce((n, p) => n + p.size, 0);
  if (pooled > limits.maxSandboxes) throw new ConfigError(`warm pools hold ${pooled} sandboxes, more than the limit of ${limits.maxSandboxes}`);
  const refillConcurrency =
    overrides.poolRefillConcurrency ??
    intFrom(env.AIRLOCK_POOL_REFILL_CONCURRENCY, 'AIRLOCK_POOL_REFILL_CONCURRENCY') ??
    file.poolRefillConcurrency ??
    1;
  if (refillConcurrency < 1) throw new ConfigError(`pool refill concurrency ${refillConcurrency} must be at least 1`);
  return {
    host: overrides.host ?? env.AIRLOCK_HOST ?? file.host ?? '127.0.0.1',
    port,
    dataDir,
    logLevel: logLevel as Config['logLevel'],
    apiKey,
    runtimes: runtimes as RuntimeName[],
    defaults,
    limits,
    machine: { memoryMiB: overrides.hostMemoryMiB ?? Math.floor(totalmem() / MiB), cpus: overrides.hostCpus ?? cpus().length },
    agent,
    hostIds: file.hostIds ?? { base: 1_000_000, size: 65_536 },
    reconcileConcurrency: file.reconcileConcurrency ?? 8,
    processes: {
      journalBytes: 8 * MiB,
      agentBufferBytes: 1 * MiB,
      keepExited: 64,
      ticketTtlMs: 30_000,
      maxBatchFiles: 1000,
      maxBatchBytes: 8 * MiB,
      maxArchiveEntries: 100_000,
      ...defined(file.processes),
      ...defined(overrides.processes),
    },
    images: {
      volumeBytes: overrides.imageVolumeBytes ?? (file.imageVolumeGiB ?? 256) * GiB,
      budgetBytes: overrides.imageBudgetBytes ?? (file.imageBudgetGiB ?? 50) * GiB,
      registries,
    },
    builds: {
      maxContextBytes: overrides.buildContextBytes ?? (file.buildContextMiB ?? 2048) * 1024 * 1024,
      maxContextEntries: 1_000_000,
      maxConcurrent: file.maxConcurrentBuilds ?? 2,
    },
    pools: {
      shapes,
      refillConcurrency,
      refillDelayMs: overrides.poolRefillDelayMs ?? intFrom(env.AIRLOCK_POOL_REFILL_DELAY_MS, 'AIRLOCK_POOL_REFILL_DELAY_MS') ?? file.poolRefillDelayMs ?? 100,
    },
    runtimeStateDir: join(dataDir, 'runtime'),
    network: networkConfig(file.network ?? {}, overrides, env, dataDir),
    vm: vmConfig(file.vm ?? {}, overrides.vm ?? {}, env),
  };
}

type Loose<T> = { [K in keyof T]?: T[K] | undefined };

function vmConfig(file: Loose<VmConfig>, overrides: Loose<VmConfig>, env: NodeJS.ProcessEnv): VmConfig {
  const accel = overrides.accel ?? env.AIRLOCK_VM_ACCEL ?? file.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new ConfigError(`AIRLOCK_VM_ACCEL "${accel}" is not one of auto, kvm, tcg`);
  const kernel = overrides.kernel ?? env.AIRLOCK_VM_KERNEL ?? file.kernel;
  if (kernel !== undefined && !isAbsolute(kernel)) throw new ConfigError(`the guest kernel path ${kernel} must be absolute`);
  return {
    accel,
    machine: overrides.machine ?? file.machine ?? 'microvm',
    kernel,
    bootTimeoutMs: overrides.bootTimeoutMs ?? file.bootTimeoutMs ?? { kvm: 10_000, tcg: 90_000 },
    // Measured idle: QEMU under TCG ~70 MiB with a 64 MiB translation cache, virtiofsd ~5 MiB.
    overheadMiB: overrides.overheadMiB ?? file.overheadMiB ?? 160,
    hostTasks: overrides.hostTasks ?? file.hostTasks ?? 128,
  };
}

function networkConfig(
  file: NonNullable<z.infer<typeof ConfigFile>['network']>,
  overrides: ConfigOverrides,
  env: NodeJS.ProcessEnv,
  dataDir: string,
): NetworkConfig {
  const o = overrides.network ?? {};
  const dnsUpstream = overrides.dnsUpstream ?? listFrom(env.AIRLOCK_DNS_UPSTREAM) ?? file.dnsUpstream ?? hostResolvers();
  for (const u of dnsUpstream) if (!/^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(u)) throw new ConfigError(`DNS upstream "${u}" must be an IPv4 address, optionally with :port`);
  const ttl = { min: o.ttl?.min ?? file.minTtl ?? 30, max: o.ttl?.max ?? file.maxTtl ?? 300 };
  if (ttl.min > ttl.max) throw new ConfigError(`network.minTtl ${ttl.min} is above network.maxTtl ${ttl.max}`);
  const perSecond = o.dnsRate?.perSecond ?? file.dnsQuestionsPerSecond ?? 50;
  const tag = o.tag ?? file.tag ?? createHash('sha256').update(dataDir).digest('hex').slice(0, 6);
  return {
    enabled: o.enabled ?? file.enabled ?? true,
    subnet: o.subnet ?? env.AIRLOCK_NETWORK_SUBNET ?? file.subnet ?? defaultSubnet(tag),
    tag,
    dnsUpstream,
    uplinks: o.uplinks ?? file.uplinks,
    httpPorts: o.httpPorts ?? file.httpPorts ?? [80],
    tlsPorts: o.tlsPorts ?? file.tlsPorts ?? [443],
    ttl,
    dnsRate: { perSecond, burst: o.dnsRate?.burst ?? Math.ceil(perSecond * 2) },
    portsDomain: o.portsDomain ?? file.portsDomain ?? null,
  };
}

/**
 * A /20 (1,024 sandbox links) of 10.192.0.0/10 picked by the instance tag, so that two servers on
 * one host (or two test runs) do not put the same addresses on two links. Stable for a data dir;
 * set network.subnet to choose one.
 */
function defaultSubnet(tag: string): string {
  const n = parseInt(tag, 16) % 1024;
  return `10.${192 + (n >> 4)}.${(n & 15) << 4}.0/20`;
}

/** The host's IPv4 resolvers (resolv.conf), the default DNS upstream. */
function hostResolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
      .filter((s): s is string => s !== undefined);
  } catch {
    return [];
  }
}

function readConfigFile(path: string | undefined): z.infer<typeof ConfigFile> {
  const p = path ?? '/etc/airlock/config.json';
  if (path === undefined && !existsSync(p)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new ConfigError(`config file ${p} cannot be read as JSON: ${(e as Error).message}`);
  }
  const parsed = ConfigFile.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new ConfigError(`config file ${p}: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  }
  return parsed.data;
}

/** `gvisor:4` → a pool of 4 gVisor sandboxes; the same runtime named twice is a mistake, not a sum. */
export function parsePoolSpec(spec: string): { runtime: RuntimeName; size: number } {
  const m = /^([a-z]+):(\d+)$/.exec(spec.trim());
  if (!m || !(RUNTIMES as readonly string[]).includes(m[1]!)) {
    throw new ConfigError(`pool "${spec}" must look like <runtime>:<size> with runtime one of ${RUNTIMES.join(', ')} (e.g. gvisor:4)`);
  }
  return { runtime: m[1] as RuntimeName, size: Number(m[2]) };
}

/** The fields of a partial object that are set (a field present as undefined must not unset a default). */
function defined<T extends object>(o: T | undefined): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

function intFrom(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ConfigError(`${name}=${v} is not an integer`);
  return n;
}

function listFrom(v: string | undefined): string[] | undefined {
  if (v === undefined || v === '') return undefined;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}
