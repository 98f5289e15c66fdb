/**
 * @module config-file
 * The optional JSON config file (AIRLOCK_CONFIG, default /etc/airlock/config.json): its schema,
 * strict so that a misspelt key is an error and not a silently ignored setting, and its reader.
 */
import { existsSync, readFileSync } from 'node:fs';
import { RUNTIMES } from '@airlock/protocol';
import { z } from 'zod';
import { ConfigError } from './config-error.js';

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
    createConcurrency: z.number().int().min(1).max(1024),
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
    bytesPerSecond: z
      .number()
      .int()
      .min(1024 * 1024),
  })
  .partial()
  .strict();

/** The optional JSON config file (AIRLOCK_CONFIG, default /etc/airlock/config.json). */
export const ConfigFile = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    runtimes: z.array(z.enum(RUNTIMES)).min(1).optional(),
    registries: z
      .record(z.string().min(1), z.object({ username: z.string().optional(), password: z.string().optional(), insecure: z.boolean().optional() }).strict())
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
              .object({
                preload: z
                  .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a module name'))
                  .max(32)
                  .optional(),
              })
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
    tenancy: z
      .object({
        quotas: z
          .object({
            sandboxes: z.number().int().min(0).nullable(),
            cpu: z.number().min(0).nullable(),
            memoryMiB: z.number().int().min(0).nullable(),
            diskMiB: z.number().int().min(0).nullable(),
            imageBytes: z.number().int().min(0).nullable(),
            execs: z.number().int().min(0).nullable(),
            pulls: z.number().int().min(0).nullable(),
          })
          .partial()
          .strict()
          .optional(),
        rate: z
          .object({ perSecond: z.number().positive(), burst: z.number().int().min(1) })
          .partial()
          .strict()
          .optional(),
        audit: z
          .object({ maxEvents: z.number().int().min(100), maxAgeDays: z.number().int().min(1) })
          .partial()
          .strict()
          .optional(),
        controlPlane: z.enum(['realtime', 'normal']).optional(),
      })
      .strict()
      .optional(),
    maxConcurrentBuilds: z.number().int().min(1).optional(),
    limits: Limits.optional(),
    agent: Agent.optional(),
    hostIds: z
      .object({
        base: z.number().int().min(65_536),
        size: z
          .number()
          .int()
          .min(1)
          .max(1 << 24),
      })
      .strict()
      .optional(),
    reconcileConcurrency: z.number().int().min(1).max(256).optional(),
    processes: z
      .object({
        journalBytes: z
          .number()
          .int()
          .min(64 * 1024),
        agentBufferBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .max(16 * 1024 * 1024),
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
    observe: z
      .object({
        metricsListen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/),
        eventsRetained: z.number().int().min(100).max(10_000_000),
        webhookAttempts: z.number().int().min(1).max(50),
        webhookBackoffMs: z.number().int().min(10).max(3_600_000),
        webhookTimeoutMs: z.number().int().min(100).max(120_000),
        maxWebhooks: z.number().int().min(1).max(1000),
        webhookPrivateTargets: z.boolean(),
        logFormat: z.enum(['auto', 'json', 'pretty']),
        enabled: z.boolean(),
      })
      .partial()
      .strict()
      .optional(),
    vm: z
      .object({
        accel: z.enum(['auto', 'kvm', 'tcg']).optional(),
        machine: z.enum(['microvm', 'q35']).optional(),
        kernel: z.string().startsWith('/').optional(),
        bootTimeoutMs: z
          .object({ kvm: z.number().int().min(1000), tcg: z.number().int().min(1000) })
          .strict()
          .optional(),
        overheadMiB: z.number().int().min(32).optional(),
        hostTasks: z.number().int().min(16).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ConfigFileContents = z.infer<typeof ConfigFile>;

export function readConfigFile(path: string | undefined): z.infer<typeof ConfigFile> {
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
