/**
 * @module tar-writer
 * A small deterministic tar writer (POSIX pax format) for the layers a build commits. Our own and
 * not tar-stream's packer because layers need byte values in PAX records (extended attributes such
 * as file capabilities), which tar-stream encodes as text, and because a layer's digest must not
 * change with a dependency's defaults: every header field here is set from the entry alone
 * (uname/gname empty, device numbers zero, no access or change times).
 *
 * The output is a stream with back-pressure: `entry` resolves once its bytes were taken.
 */
import { PassThrough, type Readable } from 'node:stream';

export interface TarHeader {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
  /** Extended attributes, written as PAX `SCHILY.xattr.NAME` records. */
  xattrs?: [string, Buffer][];
}

const TYPEFLAG: Record<TarHeader['type'] | 'pax', string> = { file: '0', link: '1', symlink: '2', directory: '5', fifo: '6', pax: 'x' };
const BLOCK = 512;

export class TarWriter {
  readonly stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  bytes = 0;

  async entry(h: TarHeader, body?: Buffer | Readable): Promise<void> {
    const records: Buffer[] = [];
    const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
    const fitsName = fits(name, 100);
    const fitsLink = h.linkname === undefined || fits(h.linkname, 100);
    if (!fitsName) records.push(paxRecord('path', Buffer.from(name)));
    if (!fitsLink) records.push(paxRecord('linkpath', Buffer.from(h.linkname!)));
    if (h.size > 0o77777777777) records.push(paxRecord('size', Buffer.from(String(h.size))));
    for (const [k, v] of h.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    if (records.length > 0) {
      const pax = Buffer.concat(records);
      await this.#write(header({ name: 'PaxHeader', type: 'pax', size: pax.length, mode: 0o644, uid: 0, gid: 0, mtime: h.mtime }));
      await this.#write(pax);
      await this.#pad(pax.length);
    }
    await this.#write(
      header({
        ...h,
        name: fitsName ? name : `PaxHeader.${name.length}`.slice(0, 99),
        linkname: h.linkname === undefined ? undefined : fitsLink ? h.linkname : 'PaxHeader',
        size: h.type === 'file' ? h.size : 0,
      }),
    );
    if (h.type !== 'file' || h.size === 0) return;
    let written = 0;
    if (Buffer.isBuffer(body)) {
      await this.#write(body);
      written = body.length;
    } else if (body) {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        await this.#write(chunk);
        written += chunk.length;
      }
    }
    if (written !== h.size) throw new Error(`${h.name}: ${written} bytes of content for a header of ${h.size}`);
    await this.#pad(written);
  }

  async finish(): Promise<void> {
    await this.#write(Buffer.alloc(2 * BLOCK));
    this.stream.end();
  }

  async #pad(n: number): Promise<void> {
    const rest = n % BLOCK;
    if (rest !== 0) await this.#write(Buffer.alloc(BLOCK - rest));
  }

  #write(b: Buffer): Promise<void> {
    this.bytes += b.length;
    if (this.stream.write(b)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.stream.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.stream.off('drain', onDrain);
        reject(new Error('the layer stream was closed'));
      };
      this.stream.once('drain', onDrain);
      this.stream.once('close', onClose);
    });
  }
}

/** A ustar name field takes 100 bytes of plain ASCII (longer or other names go to PAX). */
function fits(s: string, n: number): boolean {
  return Buffer.byteLength(s) < n && /^[\x20-\x7e]*$/.test(s);
}

function header(h: Omit<TarHeader, 'type' | 'xattrs' | 'linkname'> & { type: TarHeader['type'] | 'pax'; linkname?: string | undefined }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, Math.min(h.size, 0o77777777777));
  octal(b, 136, 12, Math.max(0, Math.floor(h.mtime)));
  b.fill(0x20, 148, 156); // checksum placeholder: spaces
  b.write(TYPEFLAG[h.type], 156, 1, 'ascii');
  if (h.linkname !== undefined) b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'binary');
  octal(b, 329, 8, 0);
  octal(b, 337, 8, 0);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'binary');
  return b;
}

function octal(b: Buffer, offset: number, length: number, value: number): void {
  b.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'ascii');
}

/** A PAX record: "<length> <key>=<value>\n", where the length counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}
