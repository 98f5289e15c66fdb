/**
 * @module btrfs-snapshotter
 * Snapshotter on a btrfs volume (host/btrfs-volume.ts):
 *
 *   <dir>/volume.btrfs         sparse file holding the volume
 *   <dir>/fs/layers/<hex>      one read-only subvolume per ChainID: a snapshot of its parent layer
 *                              with this layer applied (so a layer is unpacked once, ever)
 *   <dir>/fs/sandboxes/<id>    a writable snapshot of the image's top layer, with an exclusive
 *                              qgroup limit: only what the sandbox writes counts against its disk
 *   <dir>/fs/tmp/…             layers being unpacked; removed at start (a crash mid-unpack)
 *   <dir>/mounts/<id>          for runtimes with a user namespace (runc): the snapshot mounted
 *                              idmapped onto the sandbox's host id range, so root inside owns its
 *                              files without a chown of the image
 *
 * Preparing a rootfs is one helper process: snapshot ioctl + qgroup limit (+ idmapped mount).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { clearStaleQgroups, mountBtrfsVolume, unmountBtrfsVolume, volumeUsage, waitForDeletedSubvolumes } from '../host/btrfs-volume.js';
import { createSubvolume, deleteSubvolume, makeReadonly, prepareSnapshot, releaseSnapshot, snapshotSubvolume } from '../host/rootfs-helper.js';
import type { IdMap, SandboxRootfs, Snapshotter } from './snapshotter.js';

const hex = (chainId: string) => {
  if (!/^sha256:[a-f0-9]{64}$/.test(chainId)) throw new Error(`not a chain id: ${chainId}`);
  return chainId.slice(7);
};

export class BtrfsSnapshotter implements Snapshotter {
  readonly #fs: string;
  readonly #mounts: string;
  /** Where cleanup failures go (the server logs them); they never replace the error being handled. */
  onCleanupError: (err: unknown, path: string) => void = () => {};

  private constructor(dir: string) {
    this.#fs = join(dir, 'fs');
    this.#mounts = join(dir, 'mounts');
  }

  static async open(dir: string, volumeBytes: number): Promise<BtrfsSnapshotter> {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    // runc's user namespace needs to traverse down to mounts/<id>; nothing here is listable.
    chmodSync(dir, 0o711);
    const s = new BtrfsSnapshotter(dir);
    await mountBtrfsVolume(join(dir, 'volume.btrfs'), s.#fs, volumeBytes);
    for (const d of ['layers', 'sandboxes', 'tmp']) mkdirSync(join(s.#fs, d), { recursive: true, mode: 0o700 });
    mkdirSync(s.#mounts, { recursive: true, mode: 0o711 });
    chmodSync(s.#mounts, 0o711);
    for (const name of readdirSync(join(s.#fs, 'tmp'))) await deleteSubvolume(join(s.#fs, 'tmp', name));
    await clearStaleQgroups(s.#fs);
    return s;
  }

  hasLayer(chainId: string): boolean {
    return existsSync(this.#layer(chainId));
  }

  async createLayer(chainId: string, parent: string | undefined, apply: (dir: string) => Promise<void>): Promise<void> {
    if (this.hasLayer(chainId)) return;
    const work = join(this.#fs, 'tmp', `${hex(chainId).slice(0, 16)}.${randomBytes(6).toString('hex')}`);
    if (parent === undefined) await createSubvolume(work);
    else await snapshotSubvolume(this.#layer(parent), work);
    try {
      chmodSync(work, 0o755);
      await apply(work);
      // Renamed while writable (btrfs refuses to move a read-only subvolume); complete either way.
      renameSync(work, this.#layer(chainId));
      persistRootInode(this.#layer(chainId));
    } catch (e) {
      // The apply's error is the one the caller gets; a failed removal is reported, not lost (the
      // next start removes what is left under tmp/).
      await deleteSubvolume(work).catch((cleanup: unknown) => this.onCleanupError(cleanup, work));
      throw e;
    }
    await makeReadonly(this.#layer(chainId));
  }

  async removeLayer(chainId: string): Promise<void> {
    await deleteSubvolume(this.#layer(chainId));
  }

  listLayers(): string[] {
    return readdirSync(join(this.#fs, 'layers')).map((h) => `sha256:${h}`);
  }

  async prepareRootfs(sandboxId: string, chainId: string, opts: { diskBytes: number; idmap?: IdMap | undefined }): Promise<SandboxRootfs> {
    const hostPath = this.#sandbox(sandboxId);
    const mount = opts.idmap ? join(this.#mounts, sandboxId) : undefined;
    if (!existsSync(hostPath)) {
      await prepareSnapshot(this.#layer(chainId), hostPath, opts.diskBytes, mount && opts.idmap ? { mount, ...opts.idmap } : undefined);
    }
    return { path: mount ?? hostPath, hostPath };
  }

  async releaseRootfs(sandboxId: string): Promise<void> {
    const hostPath = this.#sandbox(sandboxId);
    const mount = join(this.#mounts, sandboxId);
    const mounted = existsSync(mount);
    if (!existsSync(hostPath) && !mounted) return;
    await releaseSnapshot(hostPath, mounted ? mount : undefined);
    if (mounted) rmdirSync(mount);
  }

  /** The host path of a sandbox's writable snapshot (its qgroup holds what it wrote; observe/ reads it). */
  rootfsHostPath(sandboxId: string): string {
    return this.#sandbox(sandboxId);
  }

  listRootfs(): string[] {
    return readdirSync(join(this.#fs, 'sandboxes'));
  }

  layerPath(chainId: string): string {
    return this.#layer(chainId);
  }

  async prepareWork(parent: string | undefined): Promise<string> {
    const work = this.#work('build');
    if (parent === undefined) await createSubvolume(work);
    else await snapshotSubvolume(this.#layer(parent), work);
    // Only a new root needs its mode: a chmod of a snapshot would count as a change of the step.
    if (parent === undefined) chmodSync(work, 0o755);
    return work;
  }

  async commitWork(work: string, chainId: string): Promise<void> {
    this.#ownWork(work);
    if (this.hasLayer(chainId)) {
      await deleteSubvolume(work);
      return;
    }
    renameSync(work, this.#layer(chainId));
    persistRootInode(this.#layer(chainId));
    await makeReadonly(this.#layer(chainId));
  }

  async discardWork(work: string): Promise<void> {
    this.#ownWork(work);
    if (existsSync(work)) await deleteSubvolume(work);
  }

  async detachRootfs(sandboxId: string): Promise<string> {
    const work = this.#work('run');
    // A snapshot keeps inode numbers and ctimes, so the commit can still tell what the step changed.
    await snapshotSubvolume(this.#sandbox(sandboxId), work);
    await this.releaseRootfs(sandboxId);
    return work;
  }

  async reclaim(): Promise<void> {
    await waitForDeletedSubvolumes(this.#fs);
  }

  usage(): Promise<{ usedBytes: number; freeBytes: number }> {
    return volumeUsage(this.#fs);
  }

  async close(): Promise<void> {
    if (this.listRootfs().length === 0) await unmountBtrfsVolume(this.#fs);
  }

  #layer(chainId: string): string {
    return join(this.#fs, 'layers', hex(chainId));
  }

  #work(kind: string): string {
    return join(this.#fs, 'tmp', `${kind}.${randomBytes(8).toString('hex')}`);
  }

  #ownWork(work: string): void {
    if (!/^(build|run)\.[a-f0-9]{16}$/.test(work.slice(join(this.#fs, 'tmp').length + 1)) || !work.startsWith(join(this.#fs, 'tmp') + '/')) {
      throw new Error(`not a work directory of this snapshotter: ${work}`);
    }
  }

  #sandbox(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`not a sandbox id: ${id}`);
    return join(this.#fs, 'sandboxes', id);
  }
}

/**
 * btrfs keeps the ctime that a rename gives a subvolume's root in memory only (a sync does not
 * write it): `stat` shows it, a snapshot of the subvolume does not get it. A layer renamed into
 * place a jiffy after its last write then differed from every snapshot of it, so an unchanged
 * build step's root looked changed. A chmod to its own mode writes the inode, and from then on
 * what `stat` shows and what a snapshot copies agree.
 */
function persistRootInode(path: string): void {
  chmodSync(path, statSync(path).mode & 0o7777);
}
