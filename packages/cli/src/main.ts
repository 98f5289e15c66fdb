#!/usr/bin/env node
/**
 * @module main
 * The `airlock` binary: parse, run one verb, and turn any failure into one line on stderr and an
 * exit status (2 for usage errors, 1 otherwise; a command's own status for run and exec).
 */
import { CommanderError } from 'commander';
import { EXIT_USAGE, exitCodeForError, formatError } from './errors.js';
import { buildProgram } from './program.js';

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message (or the help / version text).
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    process.stderr.write(`${formatError(error)}\n`);
    process.exitCode = exitCodeForError(error);
  }
}

await main(process.argv);
