/**
 * @module commands/image-build
 * `airlock image build|push|save|build-builtin`: images made from a Dockerfile on the server (every
 * RUN step in a sandbox), and images leaving it (to a registry, or to an OCI layout tar).
 */
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { buildProgress } from '../build-progress.js';
import { buildBuiltin, builtinNames } from '../builtin-images.js';
import { collectKeyValue } from '../options.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const runtimeOf = (v: string) => {
  if (v !== 'gvisor' && v !== 'runc') throw new Error(`--runtime must be gvisor or runc (got ${v})`);
  return v;
};

interface BuildFlags {
  tag?: string[];
  file?: string;
  runtime?: 'gvisor' | 'runc';
  allow?: string[];
  buildArg?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  compression?: 'gzip' | 'zstd';
  timeout?: string;
}

export function imageBuildCommands(): Command[] {
  const sub = (name: string, description: string) => addConnectionOptions(new Command(name).description(description));
  const build = sub('build', 'build an image from a Dockerfile; every RUN step runs in a sandbox')
    .argument('<context>', 'the build context directory (.dockerignore applies)')
    .option('-t, --tag <name[:tag]>', 'reference to tag the image with (repeatable)', collect)
    .option('-f, --file <Dockerfile>', 'the Dockerfile (default: <context>/Dockerfile)')
    .option('--runtime <gvisor|runc>', 'runtime of the RUN steps (default gvisor)', runtimeOf)
    .option('--allow <domain>', 'domain RUN steps may reach (repeatable; needs network policies on the server)', collect)
    .option('--build-arg <K=V>', 'value of an ARG (repeatable)', collectKeyValue)
    .option('--target <stage>', 'stage to build (default: the last)')
    .option('--no-cache', 'rebuild every step')
    .option('--compression <gzip|zstd>', 'layer compression (default gzip)')
    .option('--timeout <seconds>', 'seconds each RUN step may take')
    .action(async (contextDir: string, o: BuildFlags & { cache?: boolean }, self: Command) => {
      if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) throw new Error(`build context ${contextDir} is not a directory`);
      const airlock = clientFrom(connectionFlags(self));
      // A Dockerfile inside the context is named by its path there; one outside travels inline.
      const file = o.file === undefined ? undefined : resolve(o.file);
      const inside = file !== undefined && !relative(resolve(contextDir), file).startsWith('..') && !isAbsolute(relative(resolve(contextDir), file));
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        const image = await airlock.images.build({
          context: contextDir,
          ...(file === undefined ? {} : inside ? { dockerfilePath: relative(resolve(contextDir), file) } : { dockerfile: readFileSync(file, 'utf8') }),
          tags: o.tag ?? [],
          buildArgs: o.buildArg ?? {},
          ...(o.runtime ? { runtime: o.runtime } : {}),
          ...(o.allow ? { allow: o.allow } : {}),
          ...(o.target ? { target: o.target } : {}),
          ...(o.cache === false ? { noCache: true } : {}),
          ...(o.compression ? { compression: o.compression } : {}),
          ...(o.timeout ? { timeout: Number(o.timeout) } : {}),
          onEvent: buildProgress(),
          signal: abort.signal,
        });
        process.stderr.write(`airlock: built ${image.references.join(', ') || image.id}\n`);
        process.stdout.write(`${image.id}\n`);
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
  const push = sub('push', 'push a local image to a registry')
    .argument('<image>', 'local reference or id')
    .argument('[reference]', 'where to push it (default: the image reference itself)')
    .action(async (image: string, reference: string | undefined, _o: unknown, self: Command) => {
      const r = await clientFrom(connectionFlags(self)).images.push(image, {
        ...(reference ? { reference } : {}),
        onBlob: (b) => process.stderr.write(`airlock: ${b.digest.slice(7, 19)} ${b.action} (${(b.size / 2 ** 20).toFixed(1)} MiB)\n`),
      });
      process.stdout.write(`${r.reference}@${r.digest}\n`);
    });
  const save = sub('save', 'save a local image as an OCI image layout tar')
    .argument('<image>', 'local reference or id')
    .requiredOption('-o, --output <file.tar>', 'where to write it')
    .action(async (image: string, o: { output: string }, self: Command) => {
      const bytes = await clientFrom(connectionFlags(self)).images.save(image);
      await new Promise<void>((resolveWrite, reject) => {
        const out = createWriteStream(o.output);
        out.on('error', reject);
        out.end(bytes, () => resolveWrite());
      });
      process.stderr.write(`airlock: saved ${image} to ${o.output} (${(bytes.length / 2 ** 20).toFixed(1)} MiB)\n`);
    });
  const builtin = sub(
    'build-builtin',
    `build one of the project's images (${builtinNames().join(', ') || 'see images/'}), its base made from Debian packages by mmdebstrap`,
  )
    .argument('<name>', 'the image, a folder of images/')
    .option('--runtime <gvisor|runc>', 'runtime of the RUN steps (default gvisor)', runtimeOf)
    .option('--no-cache', 'rebuild every step')
    .action(async (name: string, o: { runtime?: 'gvisor' | 'runc'; cache?: boolean }, self: Command) => {
      const image = await buildBuiltin(clientFrom(connectionFlags(self)), name, {
        ...(o.runtime ? { runtime: o.runtime } : {}),
        ...(o.cache === false ? { noCache: true } : {}),
      });
      process.stderr.write(`airlock: built ${image.references.join(', ')}\n`);
      process.stdout.write(`${image.id}\n`);
    });
  return [build, push, save, builtin];
}
