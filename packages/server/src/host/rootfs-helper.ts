/**
 * @module rootfs-helper
 * Runs the native airlock-rootfs helper (packages/agent/native/rootfs.c): btrfs subvolume and
 * snapshot ioctls, qgroup limits and idmapped mounts in one short-lived process per operation.
 */
import { ROOTFS_HELPER } from '@airlock/agent';
import { CommandError, runCommand } from './command.js';

export class RootfsHelperError extends CommandError {
  /** The errno name the helper reported (ENOSPC, EDQUOT, ENOENT …), if any. */
  get errno(): string | undefined {
    return /\((E[A-Z0-9]+)\)\s*$/.exec(this.result.stderr.trim())?.[1];
  }
}

async function helper(args: string[]): Promise<void> {
  const argv = [ROOTFS_HELPER, ...args];
  const r = await runCommand(argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new RootfsHelperError(argv, r);
}

export const createSubvolume = (path: string) => helper(['subvol-create', path]);
export const snapshotSubvolume = (src: string, dst: string) => helper(['snapshot', src, dst]);
export const makeReadonly = (path: string) => helper(['set-readonly', path]);
export const deleteSubvolume = (path: string) => helper(['delete', path]);
/** Simple quotas where the kernel has them (cheap snapshots), full qgroups otherwise; idempotent. */
export const enableQuotas = (mountPoint: string) => helper(['quota-enable', mountPoint]);

/** A writable snapshot with an exclusive size limit, optionally mounted idmapped at `mount`. */
export function prepareSnapshot(src: string, dst: string, limitBytes: number, idmap?: { mount: string; hostId: number; size: number }): Promise<void> {
  const args = ['prepare', src, dst, String(limitBytes)];
  if (idmap) args.push(idmap.mount, String(idmap.hostId), String(idmap.size));
  return helper(args);
}

/** Unmounts `mount` (if given) and deletes the snapshot. */
export function releaseSnapshot(dst: string, mount?: string): Promise<void> {
  return helper(mount ? ['release', mount, dst] : ['release', dst]);
}

/** The runtimes' bind-mount targets for the agent, made with fd-relative calls that follow no link (rootfs.c). */
export const addMountPoints = (root: string, dir: string, names: string[]) => helper(['mountpoints', root, dir, ...names]);
