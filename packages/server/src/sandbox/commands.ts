/**
 * @module commands
 * The typed commands the sandbox domain takes (validated at the edge, mapped from the wire there).
 */
import type { NetworkSettings, RuntimeName } from '@airlock/protocol';

/** What a create asks for (validated at the edge). */
export interface CreateSandbox {
  project?: string;
  image?: string | undefined;
  runtime?: RuntimeName | undefined;
  cpu?: number | undefined;
  memoryMiB?: number | undefined;
  diskMiB?: number | undefined;
  /** Seconds; null: no limit; undefined: the server's default. */
  timeout?: number | null | undefined;
  env?: Record<string, string> | undefined;
  metadata?: Record<string, string> | undefined;
  /** The sandbox's own network namespace and egress policy; absent: loopback only. */
  network?: NetworkSettings | undefined;
}
