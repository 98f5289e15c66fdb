/**
 * @module pools
 * Warm pools as the API reports them: per shape, how many sandboxes wait, how often a create found
 * one (hit) or had to start one (miss), and what a refill costs.
 */
import { z } from 'zod';
import { RUNTIMES } from './states.js';

export const PoolStatus = z
  .object({
    runtime: z.enum(RUNTIMES),
    image: z.string(),
    cpu: z.number(),
    memoryMiB: z.number().int(),
    diskMiB: z.number().int(),
    size: z.number().int().describe('Configured number of warm sandboxes'),
    ready: z.number().int().describe('Started sandboxes waiting for a create'),
    starting: z.number().int().describe('Refills in progress'),
    hits: z.number().int().describe('Creates of this shape served from the pool'),
    misses: z.number().int().describe('Creates of this shape that found the pool empty and started a sandbox'),
    refills: z.number().int().describe('Sandboxes started into the pool'),
    refillFailures: z.number().int(),
    refillMs: z
      .object({ last: z.number().nullable(), p50: z.number().nullable() })
      .describe('Time to start one pooled sandbox (the last one, and the median of the recent ones)'),
    lastError: z.string().nullable().describe('Why the last refill failed, if it did'),
  })
  .meta({ id: 'PoolStatus' });
export type PoolStatus = z.infer<typeof PoolStatus>;

export const PoolList = z
  .object({
    pools: z.array(PoolStatus),
    refillConcurrency: z.number().int().describe('Refills that may run at once (the CPU budget for pools)'),
  })
  .meta({ id: 'PoolList' });
export type PoolList = z.infer<typeof PoolList>;
