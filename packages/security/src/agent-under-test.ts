/**
 * @module agent-under-test
 * TEST ONLY: runtimes for the agent-hardening tests, injected into a test server through
 * startServer's createRuntime; never offered by a server.
 * - withDumpableAgent: the same runtimes, but PID 1 is the test build of the agent that stays
 *   dumpable (AIRLOCK_AGENT_DUMPABLE, see packages/agent/native/Makefile): the positive control of
 *   the /proc/1 probes, which shows what PR_SET_DUMPABLE 0 is worth on each runtime.
 */
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AGENT_BINARY } from '@airlock/agent';
import { createRuntime } from '@airlock/server/internal/runtimes/registry.js';

export const DUMPABLE_AGENT = join(dirname(AGENT_BINARY), 'test', 'airlock-agent-dumpable');

export const withDumpableAgent: typeof createRuntime = (name, config, native, seccompSource, log) => {
  // Next to the installed agent, where every runtime (bwrap's unprivileged uid too) can reach it.
  const dir = join(config.dataDir, 'images', 'agent');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const agent = join(dir, 'airlock-agent-dumpable');
  copyFileSync(DUMPABLE_AGENT, agent);
  chmodSync(agent, 0o755);
  return createRuntime(name, config, { ...native, agent }, seccompSource, log);
};
