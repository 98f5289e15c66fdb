/** @module health */
import { z } from 'zod';

export const HealthBody = z
  .object({
    status: z.literal('ok'),
    version: z.string(),
    runtimes: z.array(
      z.object({
        name: z.string(),
        available: z.boolean(),
        reason: z.string().optional(),
        /** microVMs: the accelerator guests get, and why. */
        accel: z.enum(['kvm', 'tcg']).optional(),
        accelReason: z.string().optional(),
      }),
    ),
  })
  .meta({ id: 'Health' });
export type HealthBody = z.infer<typeof HealthBody>;
