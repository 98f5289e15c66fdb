/**
 * @module observe
 * What Airlock tells about itself: a sandbox's resource use (stats), the lifecycle events of a
 * project (served as Server-Sent Events and delivered to webhooks), and webhooks with their
 * delivery log.
 */
import { z } from 'zod';
import { RUNTIMES } from './states.js';

export const SandboxStats = z
  .object({
    id: z.string(),
    runtime: z.enum(RUNTIMES),
    time: z.string().describe('RFC 3339: when the sample was read'),
    source: z.string().describe('Where the numbers come from (cgroup v1, cgroup v2) and whose they are; see docs/observability.md'),
    cpu: z.object({
      usageSeconds: z.number().describe('CPU time the sandbox used since it started (user + system, every core)'),
      percent: z.number().nullable().describe('CPU used over the sampling window, 100 = one core busy; null if no window could be taken'),
      windowMs: z.number().nullable().describe('The window percent was measured over'),
      limitCores: z.number().describe('The CPU limit, cores'),
    }),
    memory: z.object({
      currentBytes: z.number().int(),
      peakBytes: z.number().int().nullable().describe('The highest use since the sandbox started; null where the kernel does not record it'),
      limitBytes: z.number().int().nullable(),
    }),
    pids: z.object({
      current: z.number().int(),
      limit: z.number().int().nullable(),
      scope: z.enum(['guest', 'host']).describe('guest: processes of the sandbox itself; host: host tasks that run it (gVisor sentry threads, QEMU)'),
    }),
    disk: z
      .object({ usedBytes: z.number().int(), limitBytes: z.number().int() })
      .nullable()
      .describe('What the sandbox wrote to its root filesystem (exclusive bytes of its snapshot) and its disk limit; null if unknown'),
    network: z
      .object({ rxBytes: z.number().int(), txBytes: z.number().int() })
      .nullable()
      .describe('Bytes the sandbox received and sent on its network link; null without a network'),
  })
  .meta({ id: 'SandboxStats' });
export type SandboxStats = z.infer<typeof SandboxStats>;

export { EVENT_TYPES } from './names.js';
import { EVENT_TYPES } from './names.js';
export type EventType = (typeof EVENT_TYPES)[number];

export const LifecycleEvent = z
  .object({
    id: z.string().describe('Increases through the server; give the last one seen as Last-Event-ID to resume'),
    type: z.enum(EVENT_TYPES),
    time: z.string(),
    project: z.string(),
    sandbox: z.string(),
    runtime: z.enum(RUNTIMES),
    data: z
      .object({
        reason: z.string().optional().describe('Why: the stop reason, the exit reason'),
        detail: z.string().optional(),
        processId: z.string().optional(),
        exitCode: z.number().int().nullable().optional(),
        signal: z.number().int().nullable().optional(),
        durationMs: z.number().optional(),
      })
      .describe('What the event adds; never a command line, an environment value or output'),
  })
  .meta({ id: 'LifecycleEvent' });
export type LifecycleEvent = z.infer<typeof LifecycleEvent>;

export const WebhookCreate = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((u) => {
        try {
          const p = new URL(u).protocol;
          return p === 'http:' || p === 'https:';
        } catch {
          return false;
        }
      }, 'must be an http(s) URL'),
    types: z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length).optional().describe('Only these event types (default: all)'),
  })
  .strict()
  .meta({ id: 'WebhookCreate' });
export type WebhookCreate = z.infer<typeof WebhookCreate>;

export const Webhook = z
  .object({
    id: z.string(),
    project: z.string(),
    url: z.string(),
    types: z.array(z.enum(EVENT_TYPES)).nullable(),
    createdAt: z.string(),
    secret: z.string().optional().describe('The HMAC-SHA256 signing secret: returned once, when the webhook is created'),
  })
  .meta({ id: 'Webhook' });
export type Webhook = z.infer<typeof Webhook>;

export const WebhookList = z.object({ webhooks: z.array(Webhook) }).meta({ id: 'WebhookList' });

export const WebhookDelivery = z
  .object({
    id: z.number().int(),
    webhook: z.string(),
    event: z.string(),
    type: z.enum(EVENT_TYPES),
    attempt: z.number().int().describe('1 for the first try'),
    time: z.string(),
    outcome: z
      .enum(['delivered', 'failed', 'gave_up', 'dropped'])
      .describe('failed: will be retried; gave_up: the last attempt failed; dropped: the queue was full'),
    status: z.number().int().nullable().describe("The target's HTTP status, if it answered"),
    error: z.string().nullable(),
    durationMs: z.number(),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const WebhookDeliveryList = z.object({ deliveries: z.array(WebhookDelivery) }).meta({ id: 'WebhookDeliveryList' });
