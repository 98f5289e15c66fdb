/**
 * @module commands/cp
 * `airlock cp SRC DST`: copy one file into or out of a sandbox (`ID:/abs/path` on one side;
 * `-` for stdin/stdout on the other).
 */
import { stat, readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { intoDirectory, parseCpArgs } from '../cp-args.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

async function readAll(input: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

export function cpCommand(): Command {
  const command = new Command('cp')
    .description('copy a file into or out of a sandbox')
    .argument('<src>', 'ID:/path in a sandbox, a local file, or - for stdin')
    .argument('<dst>', 'ID:/path in a sandbox, a local file or directory, or - for stdout')
    .addHelpText('after', '\nExamples:\n  airlock cp ./main.py sb-…:/home/user/main.py\n  airlock cp sb-…:/tmp/out.csv .\n  tar c . | airlock cp - sb-…:/tmp/src.tar');
  addConnectionOptions(command);
  return command.action(async (src: string, dst: string, _options: unknown, self: Command) => {
    const plan = parseCpArgs(src, dst);
    const airlock = clientFrom(connectionFlags(self));
    const sandbox = await airlock.sandboxes.get(plan.sandboxId);
    if (plan.direction === 'upload') {
      const fromStdin = plan.local === '-';
      const data = fromStdin ? await readAll(process.stdin) : await readFile(plan.local);
      const remote = plan.remotePath.endsWith('/') && !fromStdin ? intoDirectory(plan.remotePath, plan.local) : plan.remotePath;
      // Keep the local permission bits (an executable script stays executable).
      const mode = fromStdin ? undefined : (await stat(plan.local)).mode & 0o777;
      await sandbox.files.write(remote, data, mode === undefined ? {} : { mode });
    } else {
      const data = await sandbox.files.read(plan.remotePath);
      if (plan.local === '-') {
        await new Promise<void>((resolve, reject) => process.stdout.write(data, (e) => (e ? reject(e) : resolve())));
      } else {
        const local = (await isDirectory(plan.local)) ? intoDirectory(plan.local, plan.remotePath) : plan.local;
        await writeFile(local, data);
      }
    }
  });
}
