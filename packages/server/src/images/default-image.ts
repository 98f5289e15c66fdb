/**
 * @module default-image
 * The image every server has without a registry: a read-only root assembled from the host's /usr
 * (Debian's merged-/usr: sh, python3 and the usual tools) and a generated /etc. Nothing of the host's
 * /etc, home directories, /usr/local or the server's data is visible.
 *
 * Its writable places (/tmp, /var/tmp, /root, /home/user) are on disk, under the sandbox's disk
 * limit: a per-sandbox snapshot of a small base layer in the image store, with its own quota, so a
 * 200 MB upload costs disk, not memory. /run stays a small tmpfs (sockets, pid files).
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RootfsSpec } from '../runtimes/runtime.js';
import { type ImageDefaults, type ImageProvider, type OciMount, type PrepareOptions } from './image.js';
import type { Lease } from './leases.js';
import type { Snapshotter } from './snapshotter.js';

export const DEFAULT_IMAGE = 'default';

const ETC_FILES: Record<string, string> = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:Airlock user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  group: 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n',
  hosts: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tsandbox\n',
  hostname: 'sandbox\n',
  // Any address will do: every DNS packet from a sandbox with a network goes to the platform DNS
  // (nft redirects port 53 whatever the destination); without a network nothing answers.
  'resolv.conf': 'nameserver 192.0.2.53\noptions timeout:2 attempts:2\n',
  'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  'os-release': 'NAME="Airlock default image"\nID=airlock\nPRETTY_NAME="Airlock default image (host /usr, read-only)"\n',
  // Empty here; a runtime may mount its own over it (gVisor: the statx compatibility library).
  'ld.so.preload': '',
};

const SKELETON_DIRS = ['usr', 'etc', 'tmp', 'proc', 'dev', 'sys', 'home/user', 'root', 'run', 'var/tmp', 'mnt', 'opt', 'srv', '.airlock'];
const SKELETON_LINKS: [string, string][] = [
  ['bin', 'usr/bin'],
  ['sbin', 'usr/sbin'],
  ['lib', 'usr/lib'],
  ['lib64', 'usr/lib64'],
];

/** The writable places, as they are in the base layer every default-image sandbox snapshots. */
const WRITABLE: { dir: string; mode: number; uid: number }[] = [
  { dir: 'tmp', mode: 0o1777, uid: 0 },
  { dir: 'var/tmp', mode: 0o1777, uid: 0 },
  { dir: 'root', mode: 0o700, uid: 0 },
  { dir: 'home/user', mode: 0o755, uid: 1000 },
];
/** The base layer's id in the snapshotter: a digest of what it holds, so a change makes a new one. */
export const WRITABLE_LAYER = `sha256:${createHash('sha256')
  .update(`airlock-default-writable:${JSON.stringify(WRITABLE)}`)
  .digest('hex')}`;

export class DefaultImage implements ImageProvider {
  readonly #rootfs: string;
  readonly #etc: string;
  readonly #snapshotter: Snapshotter;

  constructor(imagesDir: string, snapshotter: Snapshotter) {
    const base = join(imagesDir, DEFAULT_IMAGE);
    this.#rootfs = join(base, 'rootfs');
    this.#etc = join(base, 'etc');
    this.#snapshotter = snapshotter;
    this.#build();
  }

  /** Creates the writable base layer once (idempotent). */
  async init(): Promise<void> {
    await this.#snapshotter.createLayer(WRITABLE_LAYER, undefined, async (dir) => {
      for (const w of WRITABLE) {
        const p = join(dir, w.dir);
        mkdirSync(p, { recursive: true });
        chownSync(p, w.uid, w.uid);
        chmodSync(p, w.mode);
      }
    });
  }

  has(ref: string): boolean {
    return ref === DEFAULT_IMAGE;
  }

  async resolve(): Promise<{ imageId: string; lease: Lease }> {
    // Built in: nothing can collect it.
    return { imageId: DEFAULT_IMAGE, lease: { release: () => {} } };
  }

  async defaults(): Promise<ImageDefaults> {
    return {
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'],
      user: 'user',
      cwd: '/home/user',
      command: [],
    };
  }

  async prepare(_imageId: string, sandboxId: string, opts: PrepareOptions): Promise<RootfsSpec> {
    const disk = await this.#snapshotter.prepareRootfs(sandboxId, WRITABLE_LAYER, { diskBytes: opts.diskMiB * 1024 * 1024, idmap: opts.idmap });
    const bind = (dir: string): OciMount => ({
      destination: `/${dir}`,
      type: 'bind',
      source: join(disk.path, dir),
      options: ['rbind', 'rw', 'nosuid', 'nodev'],
    });
    return {
      kind: 'directory',
      path: this.#rootfs,
      readonly: true,
      mounts: [
        { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
        // /usr/local holds what the host's admin installed by hand; the sandbox gets an empty one.
        { destination: '/usr/local', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'mode=755', 'size=4k'] },
        { destination: '/etc', type: 'bind', source: this.#etc, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
        ...WRITABLE.map((w) => bind(w.dir)),
        { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16m', 'nr_inodes=4096'] },
      ],
    };
  }

  preparedSandboxes(): string[] {
    return this.#snapshotter.listRootfs();
  }

  async release(sandboxId: string): Promise<void> {
    await this.#snapshotter.releaseRootfs(sandboxId);
  }

  /** Builds the shared skeleton once; every mount point exists so runtimes never write into it. */
  #build(): void {
    mkdirSync(join(this.#rootfs, '..'), { recursive: true, mode: 0o755 });
    for (const d of SKELETON_DIRS) mkdirSync(join(this.#rootfs, d), { recursive: true });
    // runc gives a tmpfs the mode of the directory it covers, whatever mode= says: the mount points
    // of the world-writable tmpfs must be 1777 themselves.
    for (const d of ['tmp', 'var/tmp']) chmodSync(join(this.#rootfs, d), 0o1777);
    for (const [name, target] of SKELETON_LINKS) {
      const p = join(this.#rootfs, name);
      try {
        if (lstatSync(p).isSymbolicLink() && readlinkSync(p) === target) continue;
        rmSync(p, { recursive: true });
      } catch {
        // absent: create it below
      }
      symlinkSync(target, p);
    }
    // Mount points for files the runtimes bind in (the agent, gVisor's statx compatibility library).
    for (const name of ['agent', 'statx-compat.so']) {
      const p = join(this.#rootfs, '.airlock', name);
      if (!existsSync(p)) writeFileSync(p, '', { mode: 0o755 });
    }
    mkdirSync(this.#etc, { recursive: true });
    for (const [name, content] of Object.entries(ETC_FILES)) writeFileSync(join(this.#etc, name), content, { mode: 0o644 });
  }
}
