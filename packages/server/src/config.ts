/**
 * @module config
 * The one place that reads the environment. Flags > environment > defaults, resolved once into a
 * typed, validated Config that is passed down explicitly.
 */
import { existsSync, readFileSync } from 'node:fs';
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
  limits: { maxSandboxes: number; maxCpu: number; maxMemoryMiB: number; maxDiskMiB: number; maxBodyBytes: number };
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
  /** How long create waits for the agent's HELLO before giving up. */
  agentReadyTimeoutMs: number;
  /** Directory that holds runc/runsc state; private to the server (0700). */
  runtimeStateDir: string;
}

/** One warm pool: `size` sandboxes of this shape are kept started and waiting for a create that matches it. */
export interface PoolConfig {
  runtime: RuntimeName;
  image: string;
  cpu: number;
  memoryMiB: number;
  diskMiB: number;
  size: number;
}

export type ConfigOverrides = Partial<Pick<Config, 'host' | 'port' | 'dataDir' | 'logLevel' | 'apiKey' | 'runtimes'>> & {
  registries?: RegistrySettings;
  defaultDiskMiB?: number;
  imageBudgetBytes?: number;
  imageVolumeBytes?: number;
  /** `runtime:size` specs (`airlock serve --pool gvisor:4`): pools of the default image and resources. */
  pools?: string[];
  poolRefillConcurrency?: number;
  poolRefillDelayMs?: number;
  maxSandboxes?: number;
  buildContextBytes?: number;
};

/** The optional JSON config file (AIRLOCK_CONFIG, default /etc/airlock/config.json) for what env vars express badly. */
const ConfigFile = z
  .object({
    registries: z
      .record(
        z.string().min(1),
        z.object({ username: z.string().optional(), password: z.string().optional(), insecure: z.boolean().optional() }).strict(),
      )
      .optional(),
    defaultDiskMiB: z.number().int().min(16).optional(),
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
          })
          .strict(),
      )
      .optional(),
    poolRefillConcurrency: z.number().int().min(1).optional(),
    poolRefillDelayMs: z.number().int().min(0).max(60_000).optional(),
    maxSandboxes: z.number().int().min(1).optional(),
    buildContextMiB: z.number().int().min(1).optional(),
    maxConcurrentBuilds: z.number().int().min(1).optional(),
  })
  .strict();

const GiB = 1024 ** 3;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(overrides.dataDir ?? env.AIRLOCK_DATA_DIR ?? '/var/lib/airlock');
  const port = overrides.port ?? intFrom(env.AIRLOCK_PORT, 'AIRLOCK_PORT') ?? 7070;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port ${port} is not a TCP port (0-65535)`);
  const logLevel = overrides.logLevel ?? env.AIRLOCK_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`log level "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const runtimes = overrides.runtimes ?? listFrom(env.AIRLOCK_RUNTIMES) ?? [...RUNTIMES];
  for (const r of runtimes) {
    if (!(RUNTIMES as readonly string[]).includes(r)) throw new ConfigError(`runtime "${r}" is not one of ${RUNTIMES.join(', ')}`);
  }
  const apiKey = overrides.apiKey ?? (env.AIRLOCK_API_KEY || undefined);
  if (apiKey !== undefined && apiKey.length < 16) throw new ConfigError('AIRLOCK_API_KEY must be at least 16 characters');
  if (!isAbsolute(dataDir)) throw new ConfigError(`data dir ${dataDir} must be absolute`);
  const file = readConfigFile(env.AIRLOCK_CONFIG);
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
  const defaultDiskMiB = overrides.defaultDiskMiB ?? intFrom(env.AIRLOCK_DEFAULT_DISK_MIB, 'AIRLOCK_DEFAULT_DISK_MIB') ?? file.defaultDiskMiB ?? 2048;
  const defaults = { cpu: 1, memoryMiB: 512, diskMiB: defaultDiskMiB, timeout: 3600, pidsLimit: 512 };
  const limits = { maxSandboxes: overrides.maxSandboxes ?? file.maxSandboxes ?? 1000, maxCpu: 16, maxMemoryMiB: 16 * 1024, maxDiskMiB: 256 * 1024, maxBodyBytes: 64 * 1024 * 1024 };
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
    host: overrides.host ?? env.AIRLOCK_HOST ?? '127.0.0.1',
    port,
    dataDir,
    logLevel: logLevel as Config['logLevel'],
    apiKey,
    runtimes: runtimes as RuntimeName[],
    defaults,
    limits,
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
    pools: { shapes, refillConcurrency, refillDelayMs: overrides.poolRefillDelayMs ?? file.poolRefillDelayMs ?? 100 },
    agentReadyTimeoutMs: 10_000,
    runtimeStateDir: join(dataDir, 'runtime'),
  };
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
