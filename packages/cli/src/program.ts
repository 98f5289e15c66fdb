/**
 * @module program
 * The `airlock` command tree. Parsing errors go through `exitOverride`, so `main` decides the
 * exit status (2 for usage) and nothing calls `process.exit` from inside commander.
 */
import { Command } from 'commander';
import { addConnectionOptions } from './commands/shared.js';
import { VERSION } from './version.js';

export { VERSION };

export interface ProgramOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/**
 * Each verb's module, loaded when the command line names it: `airlock ls` loads the ls command
 * alone, not the other eighteen and what they import (start-up is most of a short command's time).
 * The order is the help's.
 */
const VERBS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.js')).serveCommand(),
  run: async () => (await import('./commands/run.js')).runCommand(),
  create: async () => (await import('./commands/create.js')).createCommand(),
  exec: async () => (await import('./commands/exec.js')).execCommand(),
  shell: async () => (await import('./commands/shell.js')).shellCommand(),
  code: async () => (await import('./commands/code.js')).codeCommand(),
  ls: async () => (await import('./commands/ls.js')).lsCommand(),
  rm: async () => (await import('./commands/rm.js')).rmCommand(),
  cp: async () => (await import('./commands/cp.js')).cpCommand(),
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand(),
  image: async () => (await import('./commands/image.js')).imageCommand(),
  pools: async () => (await import('./commands/pools.js')).poolsCommand(),
  net: async () => (await import('./commands/net.js')).netCommand(),
  project: async () => (await import('./commands/project.js')).projectCommand(),
  key: async () => (await import('./commands/key.js')).keyCommand(),
  audit: async () => (await import('./commands/audit.js')).auditCommand(),
  stats: async () => (await import('./commands/stats.js')).statsCommand(),
  events: async () => (await import('./commands/events.js')).eventsCommand(),
  mcp: async () => (await import('./commands/mcp.js')).mcpCommand(),
};

/** Global options that take a value (as separate argument): the verb comes after them. */
const VALUED = new Set(['--url', '--api-key', '--profile']);

/**
 * The verb a command line (without node and the script) names: its first argument that is not a
 * global option or an option's value; undefined when an option comes first that is not a global
 * one (`--help`, `-V`, a typo), so that the whole tree answers it.
 */
export function verbOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUED.has(a)) i++;
    else if ([...VALUED].some((o) => a.startsWith(`${o}=`))) continue;
    else if (a.startsWith('-')) return undefined;
    else return a;
  }
  return undefined;
}

/**
 * The command tree for `argv` (user arguments: without node and the script): only the verb it
 * names, or every verb when it names none that exists (help, a typo, the tests).
 */
export async function buildProgram(output?: ProgramOutput, argv?: readonly string[]): Promise<Command> {
  const program = new Command('airlock')
    .description('Run untrusted code in gVisor/runc sandboxes')
    .version(VERSION, '-V, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(see airlock --help)')
    .exitOverride()
    .configureOutput({
      ...(output ?? {}),
      // commander says "error: unknown option '--x'"; the CLI's one error format is "airlock: ...".
      outputError: (text, write) => write(text.replace(/^error: /, 'airlock: ')),
    });
  addConnectionOptions(program);
  const verb = argv === undefined ? undefined : verbOf(argv);
  const wanted = verb !== undefined && verb in VERBS ? [verb] : Object.keys(VERBS);
  const commands = await Promise.all(wanted.map((name) => VERBS[name]!()));
  for (const command of commands) program.addCommand(command.copyInheritedSettings(program));
  return program;
}
