/**
 * @module cpio
 * The newc ("070701") cpio format the kernel unpacks an initramfs from. Pure: entries in, bytes out.
 * Only what an initramfs needs: directories, regular files, symlinks and character devices, all
 * owned by root, with a fixed mtime so that the same input gives the same archive.
 */

export type CpioEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

function header(ino: number, mode: number, size: number, name: string, rdev = { major: 0, minor: 0 }): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rdev.major, rdev.minor, nameBytes.length, 0];
  const head = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return Buffer.concat([head, nameBytes, pad4(head.length + nameBytes.length)]);
}

/** The archive of `entries` (parents before children), ending with the TRAILER!!! record. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new Error(`bad initramfs path: ${e.path}`);
    let body: Buffer = Buffer.alloc(0);
    let mode: number;
    let rdev = { major: 0, minor: 0 };
    switch (e.type) {
      case 'dir':
        mode = S_IFDIR | (e.mode & 0o7777);
        break;
      case 'file':
        mode = S_IFREG | (e.mode & 0o7777);
        body = e.data;
        break;
      case 'symlink':
        mode = S_IFLNK | 0o777;
        body = Buffer.from(e.target);
        break;
      case 'chardev':
        mode = S_IFCHR | (e.mode & 0o7777);
        rdev = { major: e.major, minor: e.minor };
        break;
    }
    parts.push(header(ino++, mode, body.length, name, rdev), body, pad4(body.length));
  }
  parts.push(header(0, 0, 0, 'TRAILER!!!'));
  return Buffer.concat(parts);
}
