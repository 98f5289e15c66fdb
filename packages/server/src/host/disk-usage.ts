/**
 * @module disk-usage
 * What a sandbox wrote to its root filesystem: the exclusive bytes of its btrfs snapshot's quota
 * group (the bytes its disk limit counts), from `btrfs qgroup show -f` as JSON. One short process
 * per read; the answer is bounded and checked before it is believed.
 */
import { runCommand } from './command.js';

export async function readSnapshotUsage(path: string): Promise<{ usedBytes: number; limitBytes: number | null } | undefined> {
  const r = await runCommand(['btrfs', '--format', 'json', 'qgroup', 'show', '-f', '-e', '--raw', path], { timeoutMs: 5000 }).catch(() => undefined);
  if (!r || r.code !== 0 || r.stdout.length > 64 * 1024) return undefined;
  try {
    const parsed = JSON.parse(r.stdout) as { 'qgroup-show'?: { qgroupid?: string; exclusive?: unknown; max_exclusive?: unknown }[] };
    // -f lists the qgroups that impact the path without ancestors: its own level-0 group.
    const own = parsed['qgroup-show']?.find((q) => typeof q.qgroupid === 'string' && q.qgroupid.startsWith('0/'));
    const used = Number(own?.exclusive);
    if (!own || !Number.isSafeInteger(used) || used < 0) return undefined;
    const max = Number(own.max_exclusive);
    return { usedBytes: used, limitBytes: Number.isSafeInteger(max) && max > 0 ? max : null };
  } catch {
    return undefined;
  }
}
