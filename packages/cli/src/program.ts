/**
 * @module program
 * The `airlock` command tree. Parsing errors go through `exitOverride`, so `main` decides the
 * exit status (2 for usage) and nothing calls `process.exit` from inside commander.
 */
import { Command } from 'commander';
import { codeCommand } from './commands/code.js';
import { cpCommand } from './commands/cp.js';
import { createCommand } from './commands/create.js';
import { execCommand } from './commands/exec.js';
import { imageCommand } from './commands/image.js';
import { inspectCommand } from './commands/inspect.js';
import { lsCommand } from './commands/ls.js';
import { netCommand } from './commands/net.js';
import { poolsCommand } from './commands/pools.js';
import { eventsCommand } from './commands/events.js';
import { statsCommand } from './commands/stats.js';
import { mcpCommand } from './commands/mcp.js';
import { rmCommand } from './commands/rm.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { shellCommand } from './commands/shell.js';
import { addConnectionOptions } from './commands/shared.js';
import { auditCommand } from './commands/audit.js';
import { keyCommand } from './commands/key.js';
import { projectCommand } from './commands/project.js';

import { VERSION } from './version.js';

export { VERSION };

export interface ProgramOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

export function buildProgram(output?: ProgramOutput): Command {
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
  const commands = [
    serveCommand(),
    runCommand(),
    createCommand(),
    execCommand(),
    shellCommand(),
    codeCommand(),
    lsCommand(),
    rmCommand(),
    cpCommand(),
    inspectCommand(),
    imageCommand(),
    poolsCommand(),
    netCommand(),
    projectCommand(),
    keyCommand(),
    auditCommand(),
    statsCommand(),
    eventsCommand(),
    mcpCommand(),
  ];
  for (const command of commands) program.addCommand(command.copyInheritedSettings(program));
  return program;
}
