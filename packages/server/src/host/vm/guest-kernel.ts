/**
 * @module guest-kernel
 * The kernel a microVM boots: Debian's cloud flavour (`linux-image-cloud-amd64`: virtio, no hardware
 * drivers, about 2.5 s of boot under TCG), its bzImage in /boot and its modules in /lib/modules. The
 * newest installed one wins unless the config names one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GuestKernel {
  /** `uname -r` inside the guest. */
  version: string;
  image: string;
  modulesDir: string;
}

export type KernelLookup = { kernel: GuestKernel } | { missing: string };

const FLAVOUR = /^vmlinuz-(.+-cloud-amd64)$/;

/** Compares Debian kernel versions like 6.1.0-57-cloud-amd64 numerically, part by part. */
function newer(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? -1;
    const y = pb[i] ?? -1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

export function findGuestKernel(configured: string | undefined, bootDir = '/boot', modulesRoot = '/lib/modules'): KernelLookup {
  const install = 'install linux-image-cloud-amd64 (scripts/setup.sh does)';
  let candidates: string[];
  if (configured) {
    const m = FLAVOUR.exec(configured.split('/').pop() ?? '') ?? /^vmlinuz-(.+)$/.exec(configured.split('/').pop() ?? '');
    if (!existsSync(configured) || !m) return { missing: `the configured guest kernel ${configured} does not exist or is not named vmlinuz-<version>` };
    candidates = [m[1]!];
    bootDir = configured.slice(0, configured.lastIndexOf('/')) || '/';
  } else {
    try {
      candidates = readdirSync(bootDir)
        .map((f) => FLAVOUR.exec(f)?.[1])
        .filter((v): v is string => v !== undefined)
        .sort(newer)
        .reverse();
    } catch {
      candidates = [];
    }
    if (candidates.length === 0) return { missing: `no guest kernel: ${bootDir} has no vmlinuz-*-cloud-amd64; ${install}` };
  }
  for (const version of candidates) {
    const image = join(bootDir, `vmlinuz-${version}`);
    const modulesDir = join(modulesRoot, version);
    try {
      readFileSync(image, { flag: 'r' }).subarray(0, 1);
    } catch (e) {
      return { missing: `the guest kernel ${image} is not readable: ${(e as Error).message}` };
    }
    if (existsSync(join(modulesDir, 'modules.dep'))) return { kernel: { version, image, modulesDir } };
  }
  return { missing: `the guest kernel ${candidates[0]} has no modules in ${modulesRoot}/${candidates[0]}; ${install}` };
}
