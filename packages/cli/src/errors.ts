/**
 * @module errors
 * How the CLI fails: one line `airlock: <message> (<code>)` on stderr, never a stack trace;
 * exit 2 for usage errors, 1 for everything else.
 */
import { AirlockError } from '@airlock/sdk';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A mistake in the command line itself (bad flag value, wrong argument shape). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function formatError(error: unknown): string {
  if (error instanceof AirlockError) return `airlock: ${error.message} (${error.code})`;
  if (error instanceof UsageError) return `airlock: ${error.message} (usage)`;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `airlock: ${error.message} (${code})` : `airlock: ${error.message}`;
  }
  return `airlock: ${String(error)}`;
}

export function exitCodeForError(error: unknown): number {
  return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}
