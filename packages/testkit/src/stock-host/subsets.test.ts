import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stockGuestArgv, stockGuestCmdline } from '@airlock/server/internal/host/vm/stock-guest-argv.js';
import { SUBSETS, guestRunScript, summarizeTap } from './subsets.js';

describe('stock-host guest', { timeout: 10_000 }, () => {
  test('boots with only cgroup v2, no network, the image behind a throwaway overlay', () => {
    const line = stockGuestCmdline({ accel: 'tcg', treePath: '/work/tree', tscKhz: 2_000_000 });
    for (const w of [
      'cgroup_no_v1=all',
      'systemd.unified_cgroup_hierarchy=1',
      'init=/sbin/airlock-stock-init',
      'airlock.tree=/work/tree',
      'tsc_early_khz=2000000',
    ])
      assert.ok(line.split(' ').includes(w), w);
    const argv = stockGuestArgv({
      accel: 'tcg',
      vcpus: 2,
      memoryMiB: 1024,
      kernel: '/boot/k',
      initrd: '/boot/i',
      image: '/c/img.ext4',
      treePath: '/t',
      treeSocket: '/r/t.sock',
      scratchSocket: '/r/s.sock',
      consoleFile: '/r/console.log',
    });
    assert.ok(argv.includes('-nodefaults'));
    assert.deepEqual(argv.slice(argv.indexOf('-nic'), argv.indexOf('-nic') + 2), ['-nic', 'none']);
    assert.ok(argv.includes('file=/c/img.ext4,format=raw,if=virtio,snapshot=on,cache=unsafe'));
    assert.throws(() => stockGuestCmdline({ accel: 'tcg', treePath: '/a b' }), /kernel command line/);
    assert.throws(
      () =>
        stockGuestArgv({
          accel: 'tcg',
          vcpus: 1,
          memoryMiB: 1,
          kernel: '/k,x',
          initrd: '/i',
          image: '/m',
          treePath: '/t',
          treeSocket: '/s',
          scratchSocket: '/s2',
          consoleFile: '/c',
        }),
      /cannot be passed/,
    );
  });

  test('the run script refuses anything but a v2 host and names its files', () => {
    const s = guestRunScript(SUBSETS.ci);
    assert.match(s, /\[ "\$fs" = cgroup2fs \] \|\| \{ echo "not a cgroup v2 host"; exit 90; \}/);
    for (const f of SUBSETS.ci.runs.flatMap((r) => r.files)) assert.ok(s.includes(f));
    assert.match(s, /--test-name-pattern='writes its cpu/);
    assert.throws(() => guestRunScript({ ...SUBSETS.ci, runs: [{ files: ['a; rm -rf /'] }] }), /cannot go/);
    assert.throws(() => guestRunScript({ ...SUBSETS.ci, runs: [{ files: ['a.js'], namePattern: "x'; reboot" }] }), /cannot go/);
    assert.throws(() => guestRunScript({ ...SUBSETS.ci, env: { X: "'; reboot" } }), /cannot go/);
  });

  test('reads the counts and failures from the TAP output', () => {
    const tap = 'TAP version 13\nnot ok 3 - runc: A2.memory-heap\n# pass 7\n# fail 1\n# skipped 2\n\nTAP version 13\n# pass 2\n# fail 0\n';
    assert.deepEqual(summarizeTap(tap), { pass: 9, fail: 1, skip: 2, failed: ['runc: A2.memory-heap'] });
    assert.deepEqual(summarizeTap(''), { pass: 0, fail: 0, skip: 0, failed: [] });
  });
});
