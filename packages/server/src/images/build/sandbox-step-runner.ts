/**
 * @module sandbox-step-runner
 * RUN steps in Airlock sandboxes: the only file of the builder that knows the sandbox service.
 * Each step gets a sandbox of its own, created like any other (the chosen runtime, gVisor by
 * default; the server's default limits; the build's timeout; no network), on a root that is a
 * writable snapshot of the parent layer (build-roots.ts). The command runs with the stage's env,
 * user and working directory; its output streams to the build. The sandbox is then destroyed, and
 * only once its runtime has stopped every process in it is its root handed back for the commit.
 * A failing command, a timeout or a cancel leaves no sandbox and no root behind.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SandboxService } from '../../sandbox/service.js';
import type { Snapshotter } from '../snapshotter.js';
import type { BuildRoots } from './build-roots.js';
import type { RunRequest, StepRunner } from './step-runner.js';

const TAIL_LINES = 20;
const TAIL_BYTES = 8 * 1024;

export interface SandboxStepRunnerDeps {
  sandboxes: SandboxService;
  roots: BuildRoots;
  snapshotter: Snapshotter;
  log: Logger;
  /** Set once builds can be given a network policy (issue 11); until then `allow` is refused. */
  networkPolicy?: (allow: string[]) => unknown;
}

export class SandboxStepRunner implements StepRunner {
  readonly #d: SandboxStepRunnerDeps;

  constructor(deps: SandboxStepRunnerDeps) {
    this.#d = deps;
  }

  async run(req: RunRequest): Promise<{ work: string }> {
    const { sandboxes, roots, snapshotter, log } = this.#d;
    if (req.allow.length > 0 && !this.#d.networkPolicy) {
      throw new AirlockError(
        ErrorCode.InvalidRequest,
        `--allow ${req.allow.join(',')}: this server cannot give builds a network yet (network policies are not available); RUN steps run with no network`,
      );
    }
    const root = roots.register(req.parent, { env: req.env, user: req.user, cwd: req.cwd, command: [] });
    let sandboxId: string | undefined;
    let kept = false;
    const onAbort = () => {
      if (sandboxId) sandboxes.destroy(sandboxId).catch((err: unknown) => log.warn({ err, sandbox: sandboxId }, 'destroying a cancelled build step failed'));
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (req.signal.aborted) throw cancelled();
      const network = req.allow.length > 0 ? this.#d.networkPolicy?.(req.allow) : undefined;
      const sb = await sandboxes.create({
        image: root.ref,
        ...(req.project ? { project: req.project } : {}),
        ...(req.runtime ? { runtime: req.runtime as never } : {}),
        timeout: req.timeoutSeconds,
        metadata: { 'airlock.build-step': 'true' },
        ...(network ? { network: network as never } : {}),
      });
      sandboxId = sb.id;
      if (req.signal.aborted) throw cancelled();
      const tail = new Tail();
      let exit: { exitCode: number | null; reason: string; signal: number | null } | undefined;
      try {
        const started = await sandboxes.exec(sb.id, { argv: req.argv, user: req.user, cwd: req.cwd, timeout: req.timeoutSeconds });
        for await (const ev of started.events) {
          if (ev.type === 'exit') {
            exit = ev;
            break;
          }
          tail.push(ev.data);
          await req.onOutput(ev.type, ev.data);
        }
      } catch (e) {
        if (req.signal.aborted) throw cancelled();
        throw e;
      }
      await sandboxes.destroy(sb.id);
      const work = await root.detached;
      if (req.signal.aborted) {
        await snapshotter.discardWork(work);
        throw cancelled();
      }
      if (!exit || exit.exitCode !== 0) {
        await snapshotter.discardWork(work);
        const how = !exit
          ? 'ended without an exit status'
          : exit.reason === 'exit'
            ? `exited with code ${exit.exitCode}`
            : exit.reason === 'timeout'
              ? `timed out after ${req.timeoutSeconds} s`
              : `was killed (${exit.reason})`;
        throw new AirlockError(ErrorCode.BuildFailed, `RUN ${JSON.stringify(req.argv.slice(-1)[0]?.slice(0, 200))} ${how}; its last output:\n${tail.text()}`);
      }
      kept = true;
      return { work };
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      if (!kept) {
        if (sandboxId) await sandboxes.destroy(sandboxId).catch(() => {});
        // A root that was prepared is handed over when its sandbox is released (now, or in the
        // background for gVisor): wait for it, and do not keep it.
        const work = root.prepared() ? await root.detached.catch(() => undefined) : undefined;
        if (work) await snapshotter.discardWork(work).catch((err: unknown) => log.error({ err }, 'discarding the root of a failed build step failed'));
      }
      await root.unregister();
    }
  }
}

function cancelled(): AirlockError {
  return new AirlockError(ErrorCode.BuildFailed, 'the build was cancelled');
}

/** The last lines of a step's output, bounded. */
class Tail {
  #buf = '';

  push(data: Buffer): void {
    this.#buf = (this.#buf + data.toString('utf8')).slice(-TAIL_BYTES);
  }

  text(): string {
    return (
      this.#buf
        .split('\n')
        .slice(-TAIL_LINES - 1)
        .join('\n')
        .trimEnd() || '(none)'
    );
  }
}
