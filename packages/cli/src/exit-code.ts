/**
 * @module exit-code
 * Maps how a command ended in the sandbox to the CLI's own exit status, shell style.
 */
import type { ExecExit } from '@airlock/sdk';

export const EXIT_TIMEOUT = 124; // as timeout(1)
export const EXIT_OOM = 137; // 128 + SIGKILL, what the OOM killer leaves
export const EXIT_SANDBOX_STOPPED = 125;

export interface ExitStatus {
  code: number;
  /** A one-line note for stderr, when the status alone would mislead. */
  note?: string;
}

export function exitStatus(exit: ExecExit): ExitStatus {
  switch (exit.reason) {
    case 'exit':
      return { code: exit.exitCode ?? 1 };
    case 'signal':
      return { code: 128 + (exit.signal ?? 0) };
    case 'timeout':
      return { code: EXIT_TIMEOUT, note: 'the command timed out and was killed' };
    case 'oom':
      return { code: EXIT_OOM, note: 'the command was killed: the sandbox ran out of memory' };
    case 'sandbox_stopped':
      return { code: EXIT_SANDBOX_STOPPED, note: 'the sandbox stopped while the command ran' };
    default:
      return { code: 1, note: `the command ended for an unknown reason (${String(exit.reason)})` };
  }
}
