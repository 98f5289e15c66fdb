/**
 * @module commands/image
 * `airlock image pull|ls|inspect|rm|prune|import`: the server's local images.
 */
import { readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import type { ImageInfo as Image } from '@airlock/sdk';
import { clientFrom } from '../config.js';
import { pullWithProgress } from '../pull-progress.js';
import { formatAge, formatTable } from '../table.js';
import { imageBuildCommands } from './image-build.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)}Mi`;

export function imageRows(images: Image[], now: number): string[][] {
  return images.map((i) => [
    i.references[0] ?? '<none>',
    i.id.slice(0, 19),
    mib(i.size),
    mib(i.unpackedBytes),
    i.inUse ? 'yes' : 'no',
    formatAge(now - Date.parse(i.createdAt)),
  ]);
}

export function imageCommand(): Command {
  const image = new Command('image').description("manage the server's images (pull, build, push, save, ls, inspect, rm, prune, import)");
  const sub = (name: string, description: string) => addConnectionOptions(new Command(name).description(description));

  image.addCommand(
    sub('pull', 'pull an image from a registry, with progress')
      .argument('<reference>', 'e.g. python:3.12-slim, ghcr.io/org/repo:tag, host:5000/repo@sha256:…')
      .action(async (reference: string, _o: unknown, self: Command) => {
        const img = await pullWithProgress(clientFrom(connectionFlags(self)), reference);
        process.stdout.write(`${img.id}\n`);
      }),
  );
  image.addCommand(
    sub('ls', 'list local images')
      .option('--json', 'print the images as JSON')
      .action(async (o: { json?: boolean }, self: Command) => {
        const images = await clientFrom(connectionFlags(self)).images.list();
        process.stdout.write(
          o.json === true
            ? `${JSON.stringify(images, null, 2)}\n`
            : formatTable(['REFERENCE', 'ID', 'SIZE', 'UNPACKED', 'IN USE', 'AGE'], imageRows(images, Date.now())),
        );
      }),
  );
  image.addCommand(
    sub('inspect', 'print one image as JSON')
      .argument('<image>', 'reference or id')
      .action(async (ref: string, _o: unknown, self: Command) => {
        process.stdout.write(`${JSON.stringify(await clientFrom(connectionFlags(self)).images.get(ref), null, 2)}\n`);
      }),
  );
  image.addCommand(
    sub('rm', 'remove images (refused while a sandbox uses one)')
      .argument('<image...>', 'references or ids')
      .action(async (refs: string[], _o: unknown, self: Command) => {
        const airlock = clientFrom(connectionFlags(self));
        for (const ref of refs) process.stdout.write(`${(await airlock.images.remove(ref)).id}\n`);
      }),
  );
  image.addCommand(
    sub('prune', 'remove every image no sandbox uses').action(async (_o: unknown, self: Command) => {
      const r = await clientFrom(connectionFlags(self)).images.prune();
      process.stdout.write(`removed ${r.removed.length} image(s), freed ${mib(r.freedBytes)}\n`);
    }),
  );
  image.addCommand(
    sub('import', 'import an OCI image layout directory or a docker save tarball')
      .argument('<path>', 'a directory (OCI layout) or a .tar file')
      .option('--tag <reference>', 'reference to give the image')
      .action(async (path: string, o: { tag?: string }, self: Command) => {
        const archive = statSync(path).isDirectory() ? tarDirectory(path) : readFileSync(path);
        const images = await clientFrom(connectionFlags(self)).images.import(archive, o.tag === undefined ? {} : { tag: o.tag });
        for (const i of images) process.stdout.write(`${i.references[0] ?? '<none>'}   ${i.id}\n`);
      }),
  );
  for (const c of imageBuildCommands()) image.addCommand(c);
  return image;
}

/** An OCI layout directory as a tar stream, made by the system's tar (no symlinks are followed). */
function tarDirectory(dir: string): Buffer {
  const r = spawnSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 16 * 1024 ** 3 });
  if (r.status !== 0) throw new Error(`tar of ${dir} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}
