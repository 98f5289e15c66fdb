/**
 * @module accel
 * Which accelerator a microVM gets. KVM only where a probe proves it works: a guest booted under KVM
 * must reach its init and power off within a deadline (on hosts where KVM guests hang, it does not).
 * Otherwise TCG, QEMU's software emulation, which works everywhere and is about 10× slower to boot.
 * The verdict is kept per host boot in /run (a tmpfs), so servers started later do not probe again.
 */
import { createHash } from 'node:crypto';
import { constants, accessSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../command.js';
import type { Accel } from './qemu-argv.js';

export interface AccelVerdict {
  accel: Accel;
  /** Why (for health and logs). */
  reason: string;
}

const CACHE_DIR = '/run/airlock';

function kvmDevice(): string | undefined {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return undefined;
  } catch (e) {
    return `/dev/kvm is not usable (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/**
 * Boots `kernel` with `initramfs` under KVM with no root (the agent's vm-init powers the guest off
 * at once) and answers whether QEMU exited within `deadlineMs`.
 */
export async function probeAccel(o: { kernel: string; initramfs: string; qemuVersion: string; deadlineMs: number }): Promise<AccelVerdict> {
  const missing = kvmDevice();
  if (missing) return { accel: 'tcg', reason: missing };
  let bootId = '';
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // no cache then
  }
  const key = createHash('sha256').update(`${bootId}\n${o.kernel}\n${o.qemuVersion}`).digest('hex').slice(0, 16);
  const cache = join(CACHE_DIR, `vm-accel-${key}.json`);
  try {
    const v = JSON.parse(readFileSync(cache, 'utf8')) as AccelVerdict;
    if ((v.accel === 'kvm' || v.accel === 'tcg') && typeof v.reason === 'string') return v;
  } catch {
    // not probed yet on this boot
  }
  const t0 = Date.now();
  const r = await runCommand(
    [
      'qemu-system-x86_64',
      '-machine',
      'microvm,acpi=on',
      '-accel',
      'kvm',
      '-cpu',
      'host',
      '-m',
      '128M',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-no-reboot',
      '-sandbox',
      'on',
      '-kernel',
      o.kernel,
      '-initrd',
      o.initramfs,
      '-append',
      'console=ttyS0 quiet panic=-1 reboot=t AIRLOCK_VM=1',
    ],
    { timeoutMs: o.deadlineMs },
  );
  const ms = Date.now() - t0;
  const verdict: AccelVerdict =
    r.code === 0 && r.signal === null
      ? { accel: 'kvm', reason: `a KVM guest booted and powered off in ${ms} ms` }
      : {
          accel: 'tcg',
          reason: r.signal
            ? `a KVM guest did not power off within ${o.deadlineMs} ms (KVM guests hang on this host)`
            : `QEMU with KVM failed: ${r.stderr.trim().slice(-300)}`,
        };
  try {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
    writeFileSync(cache, JSON.stringify(verdict), { mode: 0o644 });
  } catch {
    // probing again next time is fine
  }
  return verdict;
}

/** The host's TSC frequency in kHz (TCG guests read the host's TSC), or undefined if it is not constant. */
export function hostTscKhz(): number | undefined {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.split(/\s+/) ?? [];
    const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)$/m.exec(info)?.[1]);
    if (!flags.includes('constant_tsc') || !Number.isFinite(mhz) || mhz <= 0) return undefined;
    return Math.round(mhz * 1000);
  } catch {
    return undefined;
  }
}
