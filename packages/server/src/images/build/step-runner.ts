/**
 * @module step-runner
 * What the builder needs to run a RUN step: a sandbox on a writable copy of the parent layer, the
 * command in it, its output streamed, and, once the sandbox is gone (no process of it left), its
 * root handed back as a work directory for the commit. sandbox-step-runner.ts fills it with Airlock
 * sandboxes; the builder knows nothing of sandboxes.
 */

export interface RunRequest {
  /** ChainID of the layer the step runs on. */
  parent: string;
  argv: string[];
  env: string[];
  user: string;
  cwd: string;
  runtime: string | undefined;
  /** Domains the step may reach (empty: no network). */
  allow: string[];
  /** The build's project: the step's sandbox is its (absent: default). */
  project?: string | undefined;
  timeoutSeconds: number;
  signal: AbortSignal;
  onOutput(stream: 'stdout' | 'stderr', data: Buffer): void | Promise<void>;
}

export interface StepRunner {
  /**
   * Runs the step; resolves with the stopped root as a work directory of the snapshotter (the
   * caller commits or discards it). A non-zero exit rejects with `build_failed` (exit code and
   * the last lines of output), after the sandbox and its root are gone.
   */
  run(req: RunRequest): Promise<{ work: string }>;
}
