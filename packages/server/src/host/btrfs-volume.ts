/**
 * @module btrfs-volume
 * The image store's filesystem: a btrfs volume in a sparse file, loop-mounted `nodev` under the data
 * directory, with quotas enabled (simple quotas where the kernel has them, 6.7+) so that each sandbox's writable snapshot can carry an exclusive
 * size limit. btrfs because this kernel (and many hosts) lack XFS/ext4 project quotas, and its
 * snapshots make a sandbox's rootfs cost one ioctl instead of a copy.
 *
 * Snapshot, limit and idmapped-mount operations go through the native helper (rootfs-helper.ts).
 */
import { existsSync, mkdirSync, readFileSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkCommand, runCommand } from './command.js';
import { enableQuotas } from './rootfs-helper.js';

export function isMountPoint(dir: string): boolean {
  // mountinfo field 5 is the mount point; octal escapes (\040 …) stand for spaces and the like.
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === dir);
}

/** Creates (first time) and mounts the volume; a volume already mounted there is used as it is. */
export async function mountBtrfsVolume(file: string, mountPoint: string, sizeBytes: number): Promise<void> {
  mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
  if (isMountPoint(mountPoint)) return;
  if (!existsSync(file)) {
    // Never larger than what the host filesystem can back: a sparse volume that outgrows its host
    // would meet I/O errors instead of a clean ENOSPC.
    const host = statfsSync(dirname(file));
    const size = Math.max(Math.min(sizeBytes, Math.floor(host.bavail * host.bsize * 0.9)), 128 * 1024 * 1024);
    writeFileSync(file, '', { mode: 0o600 });
    truncateSync(file, size);
    await checkCommand(['mkfs.btrfs', '-q', '-L', 'airlock-images', file], { timeoutMs: 60_000 });
  }
  await checkCommand(['mount', '-t', 'btrfs', '-o', 'loop,nodev,noatime', file, mountPoint]);
  await enableQuotas(mountPoint);
}

/** Unmounts the volume; the loop device is released with it (autoclear). */
export async function unmountBtrfsVolume(mountPoint: string): Promise<void> {
  if (isMountPoint(mountPoint)) await checkCommand(['umount', mountPoint]);
}

/** Removes the quota groups of deleted snapshots, which btrfs leaves behind. */
export async function clearStaleQgroups(mountPoint: string): Promise<void> {
  await runCommand(['btrfs', 'qgroup', 'clear-stale', mountPoint]);
}

/** Waits until deleted subvolumes are cleaned up, so that their space is free again. */
export async function waitForDeletedSubvolumes(mountPoint: string): Promise<void> {
  // The cleaner runs at a transaction commit (every 30 s by default): commit now, then wait for it.
  await runCommand(['btrfs', 'filesystem', 'sync', mountPoint], { timeoutMs: 120_000 });
  await runCommand(['btrfs', 'subvolume', 'sync', mountPoint], { timeoutMs: 120_000 });
}

/** Bytes used and available on the volume, as statfs sees them. */
export async function volumeUsage(mountPoint: string): Promise<{ usedBytes: number; freeBytes: number }> {
  const { statfs } = await import('node:fs/promises');
  const s = await statfs(mountPoint);
  return { usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize };
}
