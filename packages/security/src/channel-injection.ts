/**
 * @module channel-injection
 * TEST ONLY: writes bytes into a sandbox's agent channel from the host, as host root, exactly where
 * the agent's own frames go: the pipe from the container's stdout (the agent's fd 1) to its shim.
 * The shim relays that pipe to the server unchanged, so whatever is written here reaches the
 * server as if the agent (or code that took the agent over) had sent it. This is the positive
 * control of the hostile-channel probes (group J) and the flood source of the fairness measurement:
 * it works the same on every runtime (under gVisor the agent is no host process, but the shim is).
 *
 * The pipe is found among the shim's fds (airlock-shim.c): the only pipe the shim holds read-only
 * whose other end it does not hold itself (its signal self-pipe has both ends in the shim).
 */
import { closeSync, constants, openSync, readFileSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The shim's pid, as the runtime recorded it in the sandbox's bundle. */
export function shimPid(dataDir: string, runtime: string, sandboxId: string): number {
  const pid = Number(readFileSync(join(dataDir, 'runtime', runtime, 'bundles', sandboxId, 'shim.pid'), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no shim pid recorded for ${sandboxId}`);
  return pid;
}

/** /proc/<shim>/fd/<n> of the pipe that carries the agent's output. */
export function agentOutputPipe(shim: number): string {
  const pipes = new Map<string, { fd: string; readOnly: boolean }[]>();
  for (const fd of readdirSync(`/proc/${shim}/fd`)) {
    let target: string;
    let flags: number;
    try {
      target = readlinkSync(`/proc/${shim}/fd/${fd}`);
      flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${shim}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '', 8);
    } catch {
      continue; // closed while we looked
    }
    if (!target.startsWith('pipe:')) continue;
    pipes.set(target, [...(pipes.get(target) ?? []), { fd, readOnly: (flags & 3) === constants.O_RDONLY }]);
  }
  const candidates = [...pipes.values()].filter((ends) => ends.length === 1 && ends[0]!.readOnly).map((ends) => ends[0]!.fd);
  if (candidates.length !== 1) throw new Error(`shim ${shim}: expected one pipe from the agent, found ${candidates.length}`);
  return `/proc/${shim}/fd/${candidates[0]}`;
}

/**
 * Writes `bytes` into the agent's output pipe without blocking; returns how many got in (a full
 * pipe, or a shim that stopped reading because the server dropped the channel, takes no more).
 */
export function injectIntoChannel(pipePath: string, bytes: Buffer): number {
  const fd = openSync(pipePath, constants.O_WRONLY | constants.O_NONBLOCK);
  let written = 0;
  try {
    while (written < bytes.length) {
      try {
        written += writeSync(fd, bytes, written);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN' || (e as NodeJS.ErrnoException).code === 'EPIPE') break;
        throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
