/**
 * @module guest-rootfs
 * How a sandbox's root filesystem reaches a microVM. Pure.
 *
 * A read-only directory rootfs (the default image: a skeleton root, host /usr and a generated /etc
 * bound in) is shared with the guest by virtiofsd: the root itself, with its bind mounts made
 * read-only in virtiofsd's own mount namespace; its tmpfs mounts become tmpfs inside the guest,
 * where their pages are guest memory.
 *
 * Read-write binds (the default image's /tmp, /var/tmp, /root and /home/user, which the other
 * runtimes take from a per-sandbox snapshot under the disk quota) become guest tmpfs too, with the
 * directory's mode and owner: virtiofsd serves nothing writable. So in a microVM these places hold at
 * most the sandbox's memory, in guest RAM, until its writable layer becomes a block device
 * (docs/microvm.md, "Not yet").
 */
import type { OciMount } from '../../images/image.js';
import type { GuestTmpfs } from '../../host/vm/qemu-argv.js';
import type { VirtiofsInput } from '../../host/vm/jail.js';
import type { RootfsSpec } from '../runtime.js';

export class UnsupportedRootfsError extends Error {
  override readonly name = 'UnsupportedRootfsError';
}

export interface GuestRootfs {
  virtiofs: Omit<VirtiofsInput, 'socket'>;
  tmpfs: GuestTmpfs[];
}

function option(m: OciMount, key: string): string | undefined {
  return m.options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
}

/** A tmpfs `size=` in MiB (k, m, g suffixes; bytes without one), rounded up. */
function sizeMiB(v: string | undefined, fallback: number): number {
  if (!v) return fallback;
  const m = /^(\d+)([kmg]?)$/i.exec(v);
  if (!m) throw new UnsupportedRootfsError(`tmpfs size ${v} is not understood`);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const bytes = unit === 'g' ? n * 1024 ** 3 : unit === 'm' ? n * 1024 ** 2 : unit === 'k' ? n * 1024 : n;
  return Math.max(1, Math.ceil(bytes / 1024 ** 2));
}

/** Mode and owner of a host directory (a read-write bind's source). */
export type DirOwner = (path: string) => { mode: number; uid: number; gid: number };

export function guestRootfs(rootfs: RootfsSpec, memoryMiB: number, ownerOf: DirOwner): GuestRootfs {
  if (rootfs.kind !== 'directory') throw new UnsupportedRootfsError(`microVMs take a directory rootfs, not ${rootfs.kind as string}`);
  if (!rootfs.readonly) throw new UnsupportedRootfsError('microVMs serve only read-only directory roots (the default image) over virtio-fs');
  const binds: VirtiofsInput['binds'] = [];
  const tmpfs: GuestTmpfs[] = [];
  for (const m of rootfs.mounts) {
    if (m.type === 'bind' && m.options.includes('rw')) {
      const o = ownerOf(m.source);
      tmpfs.push({ destination: m.destination, mode: o.mode & 0o7777, uid: o.uid, gid: o.gid, sizeMiB: memoryMiB, inodes: memoryMiB * 256, readonly: false });
    } else if (m.type === 'bind') {
      binds.push({ source: m.source, destination: m.destination });
    } else if (m.type === 'tmpfs') {
      tmpfs.push({
        destination: m.destination,
        mode: parseInt(option(m, 'mode') ?? '755', 8),
        uid: Number(option(m, 'uid') ?? 0),
        gid: Number(option(m, 'gid') ?? 0),
        sizeMiB: sizeMiB(option(m, 'size'), memoryMiB),
        inodes: Number(option(m, 'nr_inodes') ?? memoryMiB * 256),
        readonly: m.options.includes('ro'),
      });
    } else {
      throw new UnsupportedRootfsError(`mount type ${m.type} at ${m.destination} has no microVM equivalent`);
    }
  }
  return { virtiofs: { root: rootfs.path, binds }, tmpfs };
}
