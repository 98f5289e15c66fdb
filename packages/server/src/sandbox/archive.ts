/**
 * @module archive
 * A sandbox directory as a tar stream, both ways (`airlock cp -r`). The host only builds and parses
 * tar (tar-stream): every path is still resolved by the agent, with the user's rights, one operation
 * per entry (LIST with a depth, FILE_READ, STAT for a link's target; MKDIR, FILE_WRITE, SYMLINK,
 * CHMOD). An archive's names are checked before use: absolute names, `..` and NULs are refused, so an
 * archive cannot name a path outside the target directory, and only directories, regular files and
 * symlinks are taken (hard links, devices and FIFOs are skipped and counted). Memory stays bounded:
 * file data streams through with back-pressure in both directions.
 */
import { Readable } from 'node:stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { extract, pack, type Pack } from 'tar-stream';
import { readFile } from '../agent-channel/files.js';
import { statPath } from '../agent-channel/file-ops.js';
import { AirlockError } from '../errors.js';
import type { FileOps } from './file-ops.js';
import { fileOp, writeSandboxFile } from './files.js';

const PAD = Buffer.alloc(64 * 1024);

/** The directory at `root` as a tar stream; errors after the first byte end the stream. */
export async function packDirectory(
  ops: FileOps,
  id: string,
  root: string,
  o: { user?: string | undefined; maxEntries: number },
): Promise<ReadableStream<Uint8Array>> {
  const { live, user } = await ops.liveAndUser('archive a directory in', id, o);
  const st = await fileOp(root, () => statPath(live.conn, root, user, false, ops.limits.idleMs));
  if (st.kind !== 'dir') throw new AirlockError(ErrorCode.FileError, `${root} is not a directory`);
  const entries = await ops.list(id, root, { user, depth: 32 });
  if (entries.length > o.maxEntries) throw new AirlockError(ErrorCode.PayloadTooLarge, `${root} has more than ${o.maxEntries} entries`);
  const p = pack();
  const base = root.replace(/\/+$/, '');
  void (async () => {
    try {
      for (const e of entries) {
        const path = `${base}/${e.name}`;
        const common = { name: e.name, mode: e.mode & 0o7777, mtime: new Date(e.mtime * 1000) };
        if (e.kind === 'dir') await entry(p, { ...common, name: `${e.name}/`, type: 'directory' });
        else if (e.kind === 'symlink') {
          const l = await statPath(live.conn, path, user, true, ops.limits.idleMs);
          await entry(p, { ...common, type: 'symlink', linkname: l.target });
        } else if (e.kind === 'file')
          await fileEntry(p, { ...common, size: e.size }, readFile(live.conn, path, { user, deadlines: { idleMs: ops.limits.idleMs } }));
      }
      p.finalize();
    } catch (err) {
      p.destroy(err as Error);
    }
  })();
  return Readable.toWeb(Readable.from(p as unknown as AsyncIterable<Buffer>)) as ReadableStream<Uint8Array>;
}

function entry(p: Pack, header: Parameters<Pack['entry']>[0]): Promise<void> {
  return new Promise((resolve, reject) => p.entry(header, (err) => (err ? reject(err) : resolve())));
}

/** A file entry of exactly the size listed: a file that grew is cut there, one that shrank is padded. */
async function fileEntry(p: Pack, header: { name: string; mode: number; mtime: Date; size: number }, chunks: AsyncIterable<Buffer>): Promise<void> {
  let done!: (e?: Error | null) => void;
  const finished = new Promise<void>((res, rej) => (done = (e) => (e ? rej(e) : res())));
  const sink = p.entry({ ...header, type: 'file' }, done);
  const write = async (b: Buffer) => {
    if (!sink.write(b)) await new Promise<void>((r) => sink.once('drain', () => r()));
  };
  let left = header.size;
  for await (const chunk of chunks) {
    if (left === 0) break;
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    await write(part);
  }
  while (left > 0) {
    const part = PAD.subarray(0, Math.min(left, PAD.length));
    left -= part.length;
    await write(part);
  }
  (sink as unknown as { end(): void }).end();
  await finished;
}

/** A name from an archive, as a path below `root`; undefined if it would leave it. */
export function entryPath(root: string, name: string): string | undefined {
  if (name.includes('\0')) return undefined;
  const parts = name.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..') || name.startsWith('/')) return undefined;
  // "./" is the directory itself (tar -C dir . starts with it)
  return parts.length === 0 ? root.replace(/(.)\/+$/, '$1') : `${root.replace(/\/+$/, '')}/${parts.join('/')}`;
}

/** Unpacks a tar stream into `root` (made if missing). */
export async function unpackInto(
  ops: FileOps,
  id: string,
  root: string,
  body: AsyncIterable<Uint8Array>,
  o: { user?: string | undefined; maxEntries: number },
): Promise<{ entries: number; bytes: number; skipped: number }> {
  const { live, user } = await ops.liveAndUser('unpack an archive in', id, o);
  await ops.mkdir(id, root, { user, parents: true });
  const ex = extract();
  const feeding = (async () => {
    try {
      for await (const chunk of body) if (!ex.write(Buffer.from(chunk))) await new Promise<void>((r) => ex.once('drain', () => r()));
      (ex as unknown as { end(): void }).end();
    } catch (e) {
      ex.destroy(e as Error);
    }
  })();
  let entries = 0;
  let bytes = 0;
  let skipped = 0;
  const modes: { path: string; mode: number }[] = [];
  try {
    for await (const src of ex) {
      const h = src.header;
      const path = entryPath(root, h.name);
      if (++entries > o.maxEntries) throw new AirlockError(ErrorCode.PayloadTooLarge, `the archive has more than ${o.maxEntries} entries`);
      if (path === undefined || (path === root.replace(/(.)\/+$/, '$1') && h.type !== 'directory'))
        throw new AirlockError(ErrorCode.InvalidRequest, `archive entry ${JSON.stringify(h.name)} names a path outside ${root}`);
      if (h.type === 'directory') {
        await ops.mkdir(id, path, { user, parents: true, mode: 0o755 });
        modes.push({ path, mode: h.mode & 0o7777 }); // set last: a read-only directory must still take its files
        src.resume();
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        bytes += await writeSandboxFile(live, path, src as unknown as AsyncIterable<Uint8Array>, { mode: h.mode & 0o7777, user }, ops.limits);
      } else if (h.type === 'symlink') {
        await ops.symlink(id, h.linkname, path, { user });
        src.resume();
      } else {
        skipped++;
        src.resume();
      }
    }
  } catch (e) {
    ex.destroy();
    await feeding;
    throw e instanceof AirlockError ? e : new AirlockError(ErrorCode.InvalidRequest, `not a valid tar archive: ${(e as Error).message}`);
  }
  await feeding;
  for (const m of modes.reverse()) await ops.chmod(id, m.path, m.mode, { user });
  return { entries, bytes, skipped };
}
