import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cpioArchive } from './cpio.js';

describe('cpio (newc) writer', { timeout: 30_000 }, () => {
  test('Debian cpio unpacks what it writes, byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-cpio-'));
    try {
      const data = Buffer.from('x'.repeat(1001));
      const archive = cpioArchive([
        { type: 'dir', path: 'a', mode: 0o755 },
        { type: 'file', path: 'a/f', mode: 0o640, data },
        { type: 'symlink', path: 'a/l', target: 'f' },
        { type: 'file', path: 'empty', mode: 0o600, data: Buffer.alloc(0) },
      ]);
      writeFileSync(join(dir, 'x.cpio'), archive);
      const r = spawnSync('cpio', ['-idm', '--quiet', '-F', 'x.cpio'], { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readFileSync(join(dir, 'a/f')), data);
      assert.equal(statSync(join(dir, 'a/f')).mode & 0o777, 0o640);
      assert.equal(readlinkSync(join(dir, 'a/l')), 'f');
      assert.equal(statSync(join(dir, 'empty')).size, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses paths that climb out', () => {
    assert.throws(() => cpioArchive([{ type: 'dir', path: '../x', mode: 0o755 }]), /bad initramfs path/);
  });
});
