/**
 * @module file-step
 * COPY, ADD and the directory a WORKDIR makes, planned before anything is written: what goes where
 * (copy-sources.ts, add-archive.ts), the inputs that key the step in the cache, and a writer of the
 * tar the layer applier puts into the step's root on the host. Nothing runs in that root meanwhile.
 */
import { lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import { resolveDirectory } from '../scoped-path.js';
import { archiveFormat, writeArchive } from './add-archive.js';
import type { BuildContext } from './build-context.js';
import { contextError } from './build-context.js';
import { resolveOwner } from './chown.js';
import { resolveCopy, writeCopyTar, type CopyEntry } from './copy-sources.js';
import type { Instruction } from './dockerfile-instructions.js';
import type { TarWriter } from './tar-writer.js';

export interface FilePlan {
  /** What keys the step besides its text: digests of everything it takes. */
  inputs: unknown[];
  /** Writes the step's files into `tar`; an archive's codec runs charged to `project` (host/codec.ts). */
  write(tar: TarWriter, project?: string): Promise<void>;
}

export interface CopySource {
  /** Root to read from: the context dir, or another stage's or image's top layer. */
  root: string;
  /** What the root is, in messages and in the cache key (the context, or a chain id). */
  id: string;
  context: BuildContext | undefined;
}

type CopyInstruction = Extract<Instruction, { kind: 'COPY' | 'ADD' }>;

/**
 * Plans a COPY or ADD. `imageRoot` is the stage's current root (its top layer; undefined for an
 * empty one), read for existing directories and for --chown names.
 */
export function planCopy(ins: CopyInstruction, source: CopySource, imageRoot: string | undefined, workdir: string, epoch: number): FilePlan {
  for (const s of ins.sources) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^git@/.test(s)) {
      throw contextError(
        `line ${ins.line}: ${ins.kind} of a URL (${s}) is not supported: builds have no network for the host to fetch with; download it in a RUN step instead`,
      );
    }
  }
  const owner = ins.chown === undefined ? undefined : resolveOwner(ins.chown, imageRoot, ins.line);
  const dest = posix.isAbsolute(ins.dest) ? ins.dest : posix.join(workdir || '/', ins.dest) + (ins.dest.endsWith('/') ? '/' : '');
  const destIsDir = (rel: string) => {
    if (imageRoot === undefined || rel === '') return rel === '';
    return lstatSync(join(imageRoot, resolveDirectory(imageRoot, rel)), { throwIfNoEntry: false })?.isDirectory() === true;
  };
  const fromContext = source.context !== undefined;
  const files = source.context?.files;
  const heredocs = ins.heredocs.map((h) => ({ name: h.name, content: Buffer.from(h.content) }));
  const entries =
    ins.sources.length === 0
      ? []
      : resolveCopy({
          root: source.root,
          sources: ins.sources,
          dest: heredocs.length > 0 && !dest.endsWith('/') ? `${dest}/` : dest,
          destIsDir,
          owner,
          chmod: ins.chmod,
          mtime: fromContext ? epoch : undefined,
          ...(files
            ? {
                visible: (rel: string) => files.has(rel),
                digestOf: (rel: string) => files.get(rel)?.digest ?? '',
                modeOf: (rel: string) => files.get(rel)?.mode,
              }
            : {}),
          what: fromContext ? 'build context' : source.id,
        });
  // ADD unpacks local archives into the destination directory instead of copying them.
  const archives = new Map<CopyEntry, NonNullable<ReturnType<typeof archiveFormat>>>();
  if (ins.kind === 'ADD') {
    for (const e of entries) {
      const format = e.type === 'file' && e.source ? archiveFormat(e.source) : undefined;
      if (format) archives.set(e, format);
    }
  }
  const destRel = dest.replace(/^\/+/, '').replace(/\/+$/, '');
  const heredocTargets = heredocs.map((h) => ({ ...h, path: dest.endsWith('/') || heredocs.length > 1 ? posix.join(destRel, h.name) : destRel }));
  const inputs = [
    source.id,
    entries.map((e) => [e.dest, e.type, e.mode, e.uid, e.gid, e.size, e.digest || e.link || '', archives.has(e) ? 'unpack' : 'copy']),
    heredocTargets.map((h) => [h.path, h.content.toString('base64')]),
  ];
  return {
    inputs,
    write: async (tar, project) => {
      const plain = entries.filter((e) => !archives.has(e));
      for (const h of heredocTargets) {
        await tar.entry(
          { name: h.path, type: 'file', size: h.content.length, mode: ins.chmod ?? 0o644, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, mtime: epoch },
          h.content,
        );
      }
      for (const [e, format] of archives) {
        // An archive unpacks into the destination directory: the one it would have been copied into.
        const into = e.dest === destRel ? destRel : posix.dirname(e.dest) === '.' ? '' : posix.dirname(e.dest);
        await writeArchive(e.source!, format, into, owner, tar, project);
      }
      await writeCopyTar(plain, tar);
    },
  };
}

/** The directory a WORKDIR names, when the stage's root lacks it; undefined when it exists. */
export function planWorkdir(path: string, imageRoot: string | undefined, epoch: number): FilePlan | undefined {
  const rel = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
  if (rel === '') return undefined;
  if (imageRoot !== undefined && lstatSync(join(imageRoot, resolveDirectory(imageRoot, rel)), { throwIfNoEntry: false })?.isDirectory()) return undefined;
  return {
    inputs: [],
    write: async (tar) => {
      await tar.entry({ name: rel, type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: epoch });
      await tar.finish();
    },
  };
}
