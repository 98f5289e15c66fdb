/**
 * @module add-archive
 * ADD of a local tar archive (plain, gzip, bzip2, xz or zstd, recognised by its first bytes, as
 * Docker does): its entries are rewritten under the destination and handed to the layer applier
 * like any COPY, so its scoped-path rules hold for them too. Names that would be whiteouts are
 * refused (an archive must not delete files of the image), and so are device nodes.
 */
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { decompressed } from '../../host/codec.js';
import { cleanEntryPath } from '../scoped-path.js';
import { contextError } from './build-context.js';
import type { TarWriter } from './tar-writer.js';

type Format = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** The archive format of a file, or undefined when it is not an archive (then ADD copies it). */
export function archiveFormat(path: string): Format | undefined {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(512);
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  const b = head.subarray(0, n);
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  if (n >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}

function open(path: string, format: Format, project: string | undefined): Readable {
  const raw = createReadStream(path);
  return format === 'tar' ? raw : decompressed(raw, format, project);
}

/** Writes the archive's entries under `destRel` into `tar` (not finished); `owner` replaces their owners when given; its codec is charged to `project`. */
export async function writeArchive(
  path: string,
  format: Format,
  destRel: string,
  owner: { uid: number; gid: number } | undefined,
  tar: TarWriter,
  project?: string,
): Promise<void> {
  const x = extract();
  const source = open(path, format, project);
  // A corrupt archive is the context's fault, not the server's: its codec's message says what is wrong.
  source.on('error', (e) => x.destroy(contextError(`ADD ${posix.basename(path)}: the ${format} archive cannot be read: ${e.message}`)));
  source.pipe(x);
  const under = (name: string) => {
    const rel = cleanEntryPath(name);
    return destRel === '' ? rel : rel === '' ? destRel : `${destRel}/${rel}`;
  };
  for await (const entry of x) {
    const h = entry.header;
    const name = under(h.name);
    if (posix.basename(name).startsWith('.wh.')) throw contextError(`ADD ${path}: the archive holds ${JSON.stringify(h.name)}, a whiteout name`);
    const base = {
      name,
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: owner?.uid ?? h.uid ?? 0,
      gid: owner?.gid ?? h.gid ?? 0,
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
      size: 0,
    };
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        await tar.entry({ ...base, type: 'file', size: h.size ?? 0 }, entry as unknown as Readable);
        continue;
      case 'directory':
        if (name !== '') await tar.entry({ ...base, type: 'directory' });
        break;
      case 'symlink':
        await tar.entry({ ...base, type: 'symlink', linkname: h.linkname ?? '' });
        break;
      case 'link':
        await tar.entry({ ...base, type: 'link', linkname: under(h.linkname ?? '') });
        break;
      default:
        throw contextError(`ADD ${posix.basename(path)}: entry ${JSON.stringify(h.name)} is a ${h.type}, which an image layer does not carry`);
    }
    entry.resume();
  }
}
