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
    await (await buildProgram(undefined, argv.slice(2))).parseAsync(argv);
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

/** Resolves once what was written to `stream` reached the OS (a pipe's reader may be slow). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

await main(process.argv);
// The command has done all its work when main returns (long-running ones, serve and mcp, return
// only when they end). What still holds the event loop is the HTTP client's idle keep-alive socket
// and timers, about 90 ms for every command: leave once the output is out.
await flushed(process.stdout);
await flushed(process.stderr);
process.exit();
