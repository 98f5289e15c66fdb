/**
 * @module commands/cp
 * `airlock cp SRC DST`: copy one file into or out of a sandbox (`ID:/abs/path` on one side;
 * `-` for stdin/stdout on the other).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sandbox } from '@airlock/sdk';
import { UsageError } from '../errors.js';
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { intoDirectory, parseCpArgs } from '../cp-args.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** A directory through the local tar(1) on this side, a tar stream to or from the sandbox on the other. */
async function copyTree(sandbox: Sandbox, plan: ReturnType<typeof parseCpArgs>): Promise<void> {
  if (plan.direction === 'upload') {
    if (!(await isDirectory(plan.local))) throw new UsageError(`${plan.local} is not a directory (cp -r copies directories)`);
    const tar = spawn('tar', ['-c', '-C', plan.local, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number>((r) => tar.once('close', (code) => r(code ?? 1)));
    await sandbox.files.uploadDir(plan.remotePath, Readable.toWeb(tar.stdout) as ReadableStream<Uint8Array>);
    if ((await exited) !== 0) throw new UsageError('tar failed reading the local directory');
  } else {
    await mkdir(plan.local, { recursive: true });
    const tar = spawn('tar', ['-x', '-C', plan.local], { stdio: ['pipe', 'inherit', 'inherit'] });
    const exited = new Promise<number>((r) => tar.once('close', (code) => r(code ?? 1)));
    await pipeline(Readable.fromWeb((await sandbox.files.downloadDir(plan.remotePath)) as never), tar.stdin);
    if ((await exited) !== 0) throw new UsageError('tar failed writing the local directory');
  }
}

export function cpCommand(): Command {
  const command = new Command('cp')
    .description('copy a file (or with -r a directory) into or out of a sandbox')
    .option('-r, --recursive', 'copy a directory, as a tar stream (needs tar(1) on this machine)')
    .argument('<src>', 'ID:/path in a sandbox, a local file, or - for stdin')
    .argument('<dst>', 'ID:/path in a sandbox, a local file or directory, or - for stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  airlock cp ./main.py sb-…:/home/user/main.py\n  airlock cp sb-…:/tmp/out.csv .\n  tar c . | airlock cp - sb-…:/tmp/src.tar',
    );
  addConnectionOptions(command);
  return command.action(async (src: string, dst: string, options: { recursive?: boolean }, self: Command) => {
    const plan = parseCpArgs(src, dst);
    const airlock = clientFrom(connectionFlags(self));
    const sandbox = await airlock.sandboxes.get(plan.sandboxId);
    if (options.recursive) return copyTree(sandbox, plan);
    if (plan.direction === 'upload') {
      const fromStdin = plan.local === '-';
      const remote = plan.remotePath.endsWith('/') && !fromStdin ? intoDirectory(plan.remotePath, plan.local) : plan.remotePath;
      // Keep the local permission bits (an executable script stays executable).
      const mode = fromStdin ? undefined : (await stat(plan.local)).mode & 0o777;
      // Streamed: a file of any size, with flat memory.
      const source = fromStdin ? process.stdin : createReadStream(plan.local);
      await sandbox.files.upload(remote, Readable.toWeb(source) as ReadableStream<Uint8Array>, mode === undefined ? {} : { mode });
    } else {
      const data = await sandbox.files.download(plan.remotePath);
      const local = plan.local === '-' ? undefined : (await isDirectory(plan.local)) ? intoDirectory(plan.local, plan.remotePath) : plan.local;
      await pipeline(Readable.fromWeb(data as never), local === undefined ? process.stdout : createWriteStream(local));
    }
  });
}
