/**
 * `npm test` runs the stock-host verification's CI subset on every run: a cgroup-v2-only Debian 12
 * guest (scripts/stock-host.sh, the driver in test/stock-host/) with the runtime conformance suite on
 * runc and bwrap and the limit attacks on runc, bwrap and gVisor inside. This host has hybrid cgroups,
 * so without it Airlock's v2 paths would never run. It takes minutes under TCG (docs/microvm.md says
 * how many); it skips, with the reason, only when QEMU, virtiofsd or the guest kernel is missing, which
 * includes inside the guest itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findGuestKernel } from '@airlock/server/internal/host/vm/guest-kernel.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

function missing(): string | undefined {
  const kernel = findGuestKernel(process.env.AIRLOCK_VM_KERNEL);
  if ('missing' in kernel) return `no guest kernel: ${kernel.missing}`;
  if (!existsSync('/usr/bin/qemu-system-x86_64') || !existsSync('/usr/lib/qemu/virtiofsd')) return 'no QEMU or virtiofsd (qemu-system-x86)';
  if (!existsSync(`/boot/initrd.img-${kernel.kernel.version}`)) return `no Debian initrd for ${kernel.kernel.version}`;
  return undefined;
}

const skip = missing() ?? false;

test('a stock cgroup-v2-only host: conformance on runc and bwrap, limits on runc, bwrap and gVisor', { timeout: 30 * 60_000, skip }, async () => {
  const child = spawn('bash', ['scripts/stock-host.sh'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AIRLOCK_STOCK_HOST_SUBSET: 'ci' },
  });
  let out = '';
  const keep = (d: Buffer) => {
    process.stderr.write(d);
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 0, `the stock-host run failed:\n${out.slice(-4000)}`);
  assert.match(out, /tests pass [1-9]\d*, fail 0/, 'positive control: tests ran in the guest');
});
