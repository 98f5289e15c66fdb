import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { guestRootfs, UnsupportedRootfsError } from './guest-rootfs.js';

describe('a directory rootfs in a microVM', { timeout: 10_000 }, () => {
  test('read-only binds are served by virtiofsd; tmpfs and read-write binds become guest tmpfs', () => {
    const g = guestRootfs(
      {
        kind: 'directory',
        path: '/d/images/default/rootfs',
        readonly: true,
        mounts: [
          { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] },
          { destination: '/usr/local', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'mode=755', 'size=4k'] },
          { destination: '/tmp', type: 'bind', source: '/d/snap/tmp', options: ['rbind', 'rw', 'nosuid'] },
          { destination: '/home/user', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755', 'size=512m', 'nr_inodes=1000', 'uid=1000', 'gid=1000'] },
        ],
      },
      256,
      (p) => (p === '/d/snap/tmp' ? { mode: 0o41777, uid: 0, gid: 0 } : assert.fail(p)),
    );
    assert.deepEqual(g.virtiofs, { root: '/d/images/default/rootfs', binds: [{ source: '/usr', destination: '/usr' }] });
    assert.deepEqual(g.tmpfs, [
      { destination: '/usr/local', mode: 0o755, uid: 0, gid: 0, sizeMiB: 1, inodes: 65536, readonly: true },
      { destination: '/tmp', mode: 0o1777, uid: 0, gid: 0, sizeMiB: 256, inodes: 65536, readonly: false },
      { destination: '/home/user', mode: 0o755, uid: 1000, gid: 1000, sizeMiB: 512, inodes: 1000, readonly: false },
    ]);
  });

  test('writable roots and unknown mounts are refused, not approximated', () => {
    const owner = () => ({ mode: 0o755, uid: 0, gid: 0 });
    assert.throws(() => guestRootfs({ kind: 'directory', path: '/x', readonly: false, mounts: [] }, 64, owner), UnsupportedRootfsError);
    assert.throws(
      () =>
        guestRootfs({ kind: 'directory', path: '/x', readonly: true, mounts: [{ destination: '/p', type: 'proc', source: 'proc', options: [] }] }, 64, owner),
      /no microVM equivalent/,
    );
  });
});
