/**
 * @module config
 * The one place that reads the environment and the config file. Every field has one precedence —
 * flag (an override from the CLI) > environment variable > config file > default — and is resolved
 * once into a typed, validated Config that is passed down explicitly. Every limit the server
 * enforces lives here, so an operator can change it without a rebuild.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { RUNTIMES, type RuntimeName } from '@airlock/protocol';
import { ConfigError } from './config-error.js';
import { readConfigFile, type ConfigFileContents } from './config-file.js';
import type { Config, ConfigOverrides, NetworkConfig, ObserveConfig, PoolConfig, VmConfig } from './config-types.js';
import type { RegistrySettings } from './images/registry-client.js';

export type { Config, TenancyConfig, VmConfig, ObserveConfig, NetworkConfig, PoolConfig, ConfigOverrides } from './config-types.js';
export { ConfigError } from './config-error.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
    // One create at a time per core: more only makes every create slower on a busy host.
    createConcurrency: overrides.hostCpus ?? cpus().length,
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
    overrides.poolRefillConcurrency ?? intFrom(env.AIRLOCK_POOL_REFILL_CONCURRENCY, 'AIRLOCK_POOL_REFILL_CONCURRENCY') ?? file.poolRefillConcurrency ?? 1;
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
    observe: observeConfig(file.observe, env, overrides.observe),
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
    tenancy: {
      // No limits by default, so that one user's setup behaves as it did before projects (the
      // server-wide limits still hold); an installation shared between tenants sets its own
      // (docs/tenancy.md suggests some).
      quotas: {
        sandboxes: null,
        cpu: null,
        memoryMiB: null,
        diskMiB: null,
        imageBytes: null,
        execs: null,
        pulls: null,
        ...defined(file.tenancy?.quotas),
        ...defined(overrides.tenancy?.quotas),
      },
      rate: { perSecond: 2000, burst: 5000, ...defined(file.tenancy?.rate), ...defined(overrides.tenancy?.rate) },
      audit: { maxEvents: 100_000, maxAgeDays: 90, ...defined(file.tenancy?.audit), ...defined(overrides.tenancy?.audit) },
      controlPlane: overrides.tenancy?.controlPlane ?? file.tenancy?.controlPlane ?? 'realtime',
    },
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

function networkConfig(file: NonNullable<ConfigFileContents['network']>, overrides: ConfigOverrides, env: NodeJS.ProcessEnv, dataDir: string): NetworkConfig {
  const o = overrides.network ?? {};
  const dnsUpstream = overrides.dnsUpstream ?? listFrom(env.AIRLOCK_DNS_UPSTREAM) ?? file.dnsUpstream ?? hostResolvers();
  for (const u of dnsUpstream)
    if (!/^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(u)) throw new ConfigError(`DNS upstream "${u}" must be an IPv4 address, optionally with :port`);
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
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function observeConfig(file: ConfigFileContents['observe'], env: NodeJS.ProcessEnv, over: Partial<ObserveConfig> | undefined): ObserveConfig {
  const listen = env.AIRLOCK_METRICS_LISTEN ?? file?.metricsListen;
  const format = env.AIRLOCK_LOG_FORMAT;
  if (format !== undefined && format !== '' && format !== 'auto' && format !== 'json' && format !== 'pretty')
    throw new ConfigError(`AIRLOCK_LOG_FORMAT ${format} is not auto, json or pretty`);
  let metricsListen: ObserveConfig['metricsListen'] = null;
  if (listen !== undefined && listen !== '') {
    const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port > 65535) throw new ConfigError(`metrics listen address ${listen} is not host:port`);
    metricsListen = { host: m[1] ?? m[2]!, port };
  }
  const { metricsListen: _f, ...rest } = file ?? {};
  return {
    metricsListen,
    eventsRetained: 100_000,
    webhookAttempts: 8,
    webhookBackoffMs: 1000,
    webhookTimeoutMs: 10_000,
    maxWebhooks: 20,
    webhookPrivateTargets: false,
    logFormat: 'auto',
    enabled: true,
    ...defined(rest),
    ...(format ? { logFormat: format } : {}),
    ...defined(over),
  };
}
