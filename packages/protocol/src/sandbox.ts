/**
 * @module sandbox
 * Wire schemas for sandboxes. The server validates requests with these same schemas and generates
 * its OpenAPI document from them, so the contract and the checks cannot drift apart.
 */
import { z } from 'zod';
import { ProjectName } from './tenancy.js';
import { NetworkSettings, NetworkState } from './network.js';
import { RUNTIMES, SANDBOX_STATES, STOP_REASONS } from './states.js';

/** Upper bounds that no configuration can raise; a server may set lower ones. */
export const LIMITS = {
  maxCpus: 64,
  maxMemoryMiB: 256 * 1024,
  minMemoryMiB: 32,
  minDiskMiB: 16,
  maxDiskMiB: 16 * 1024 * 1024,
  maxTimeoutSeconds: 30 * 24 * 3600,
  maxEnvEntries: 256,
  maxEnvValueBytes: 32 * 1024,
  maxLabels: 64,
} as const;

export const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _, not starting with a digit')
  .max(256);

export const EnvMap = z
  .record(
    EnvName,
    z
      .string()
      .max(LIMITS.maxEnvValueBytes)
      .refine((v) => !v.includes('\0'), 'must not contain NUL'),
  )
  .refine((m) => Object.keys(m).length <= LIMITS.maxEnvEntries, `at most ${LIMITS.maxEnvEntries} variables`);

export const LabelKey = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/, 'label keys are 1-63 chars of a-z 0-9 . _ / -, starting and ending alphanumeric');

export const Labels = z.record(LabelKey, z.string().max(256)).refine((m) => Object.keys(m).length <= LIMITS.maxLabels, `at most ${LIMITS.maxLabels} labels`);

export const RuntimeNameSchema = z.enum(RUNTIMES);

export const SandboxId = z
  .string()
  .regex(/^sb-[a-z0-9]{20}(?:[a-z0-9]{4})?$/, 'sandbox ids look like sb- followed by 24 lowercase letters or digits (20 for sandboxes made before projects)');

export const CreateSandboxRequest = z
  .object({
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe(
        'Image to start from: a reference (python:3.12-slim, ghcr.io/o/r@sha256:…), pulled on first use, or an image id; defaults to the built-in "default" image',
      ),
    runtime: RuntimeNameSchema.optional().describe('Isolation runtime; defaults to the best one this host offers'),
    cpu: z.number().positive().max(LIMITS.maxCpus).optional().describe('CPU cores (fractional allowed), enforced by CFS quota'),
    memoryMiB: z.number().int().min(LIMITS.minMemoryMiB).max(LIMITS.maxMemoryMiB).optional().describe('Memory limit in MiB'),
    diskMiB: z
      .number()
      .int()
      .min(LIMITS.minDiskMiB)
      .max(LIMITS.maxDiskMiB)
      .optional()
      .describe('Limit of what the sandbox may write to its filesystem, MiB (writes past it fail with EDQUOT/ENOSPC); defaults to the server config'),
    timeout: z
      .number()
      .int()
      .positive()
      .max(LIMITS.maxTimeoutSeconds)
      .nullable()
      .optional()
      .describe('Seconds until the sandbox is destroyed; null keeps it until deleted'),
    env: EnvMap.optional().describe('Environment for every exec in the sandbox (values are never logged or returned)'),
    metadata: Labels.optional().describe('Labels to find the sandbox by'),
    network: NetworkSettings.optional().describe(
      'Give the sandbox a network namespace of its own with this egress policy (default: none); without it the sandbox has loopback only and its policy cannot be changed later',
    ),
  })
  .strict()
  .meta({ id: 'CreateSandboxRequest' });
export type CreateSandboxRequest = z.infer<typeof CreateSandboxRequest>;

export const Sandbox = z
  .object({
    id: SandboxId,
    state: z.enum(SANDBOX_STATES),
    runtime: RuntimeNameSchema,
    image: z.string(),
    imageId: z.string().describe('The local image id (manifest digest) the sandbox runs, or "default"'),
    cpu: z.number(),
    memoryMiB: z.number().int(),
    pids: z.number().int(),
    diskMiB: z.number().int(),
    timeout: z.number().int().nullable(),
    metadata: z.record(z.string(), z.string()),
    envKeys: z.array(z.string()).describe('Names of the variables set at create; values are never returned'),
    createdAt: z.string().describe('RFC 3339'),
    startedAt: z.string().nullable(),
    stoppedAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    stopReason: z.enum(STOP_REASONS).nullable(),
    stopDetail: z.string().nullable().describe('What stopped it, in words (e.g. the protocol rule its agent broke)'),
    project: z.string(),
    enforced: z
      .object({
        pids: z.number().int().nullable().describe('Processes the sandbox may run at once, enforced inside it; null where the runtime cannot'),
        hostPids: z.number().int().describe("The host's guard on the sandbox's host tasks (gVisor's sentry threads count there)"),
        memoryMiB: z.number(),
        memoryOverheadMiB: z.number().describe("Host memory granted above the sandbox's limit for the runtime itself"),
        cpu: z.number(),
      })
      .nullable()
      .describe('The limits as the runtime really enforces them'),
    network: NetworkState.nullable().describe('Its network, or null for loopback only'),
    agent: z
      .object({ responsive: z.boolean(), unresponsiveSince: z.string().nullable() })
      .describe("Whether the sandbox's agent answers its pings; an unresponsive sandbox can still be destroyed"),
  })
  .meta({ id: 'Sandbox' });
export type Sandbox = z.infer<typeof Sandbox>;

export const SandboxList = z.object({ sandboxes: z.array(Sandbox) }).meta({ id: 'SandboxList' });
export type SandboxList = z.infer<typeof SandboxList>;

export const ListSandboxesQuery = z.object({
  state: z.enum(SANDBOX_STATES).optional(),
  label: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe('key=value; repeat to require several labels'),
  project: ProjectName.optional().describe("Admin keys only: another project's sandboxes (default: the key's own project)"),
});
export type ListSandboxesQuery = z.infer<typeof ListSandboxesQuery>;
