/**
 * @module live-settings
 * What the live-sandbox registry is given from the config: the agent's deadlines, the process
 * journals' place and bounds, and the per-sandbox channel budgets.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

/** The live-sandbox registry's settings (everything but its log and callbacks). */
export function liveSettings(config: Config) {
  return {
    readyTimeoutMs: config.agent.readyTimeoutMs,
    journals: {
      dir: join(config.dataDir, 'journals'),
      limits: {
        journal: { maxBytes: config.processes.journalBytes, hotBytes: 64 * 1024 },
        ringBytes: config.processes.agentBufferBytes,
        keepExited: config.processes.keepExited,
        startTimeoutMs: config.agent.startTimeoutMs,
        opTimeoutMs: config.agent.fileIdleMs,
      },
    },
    limits: {
      maxChannels: config.limits.maxOperationsPerSandbox,
      maxProcessChannels: 1024,
      preSyncBytes: 4 * 1024 * 1024,
      framesPerSecond: config.agent.framesPerSecond,
      bytesPerSecond: config.agent.bytesPerSecond,
    },
  };
}

/** Journals of sandboxes that did not come back after a restart (lost, destroyed meanwhile) go. */
export function pruneJournals(config: Config, live: (id: string) => boolean): void {
  const dir = join(config.dataDir, 'journals');
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (!live(name)) rmSync(join(dir, name), { recursive: true, force: true });
}
