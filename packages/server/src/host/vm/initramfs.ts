/**
 * @module initramfs
 * The initramfs every microVM boots: the agent itself as /init (it does the minimal init when it is
 * PID 1 of a VM: packages/agent/native/vm-init.c) and the few kernel modules the guest needs, with
 * their dependencies, in load order (/modules.order). Built once per kernel and agent binary and kept
 * in the runtime's state dir; about 2 MB.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpioArchive, type CpioEntry } from './cpio.js';
import type { GuestKernel } from './guest-kernel.js';

/** What the guest loads: the virtio transports and devices, and the filesystems its root is made of. */
export const GUEST_MODULES = ['virtio_mmio', 'virtio_pci', 'virtio_console', 'virtio_blk', 'virtio_net', 'virtiofs', 'erofs', 'overlay'];

/** Module paths (relative to the modules dir) in an order where every module follows its dependencies. */
export function moduleLoadOrder(modulesDep: string, wanted: string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    deps.set(
      path,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
    byName.set(
      path
        .split('/')
        .pop()!
        .replace(/\.ko(\.\w+)?$/, '')
        .replace(/-/g, '_'),
      path,
    );
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name.replace(/-/g, '_'));
    // Absent from modules.dep: built into this kernel (or not needed by it), nothing to load.
    if (path) visit(path);
  }
  return order;
}

/** Builds (or finds) the initramfs for this kernel and agent; returns its path. */
export function ensureInitramfs(kernel: GuestKernel, agentBinary: string, dir: string): string {
  const agent = readFileSync(agentBinary);
  const key = createHash('sha256').update(kernel.version).update(agent).digest('hex').slice(0, 16);
  const out = join(dir, `initramfs-${kernel.version}-${key}.cpio`);
  if (existsSync(out)) return out;
  const order = moduleLoadOrder(readFileSync(join(kernel.modulesDir, 'modules.dep'), 'utf8'), GUEST_MODULES);
  const entries: CpioEntry[] = [
    { type: 'dir', path: 'dev', mode: 0o755 },
    { type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    ...['proc', 'sys', 'newroot', 'lower', 'upper', 'modules'].map((path): CpioEntry => ({ type: 'dir', path, mode: 0o755 })),
    { type: 'file', path: 'init', mode: 0o755, data: agent },
  ];
  const listed: string[] = [];
  for (const rel of order) {
    if (!rel.endsWith('.ko')) throw new Error(`kernel module ${rel} is compressed; the guest loads plain .ko files only`);
    const name = `modules/${rel.split('/').pop()}`;
    entries.push({ type: 'file', path: name, mode: 0o644, data: readFileSync(join(kernel.modulesDir, rel)) });
    listed.push(`/${name}`);
  }
  entries.push({ type: 'file', path: 'modules.order', mode: 0o644, data: Buffer.from(listed.join('\n') + '\n') });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, cpioArchive(entries), { mode: 0o644 });
  renameSync(tmp, out);
  return out;
}
