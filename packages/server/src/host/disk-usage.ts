/**
 * @module disk-usage
 * What a sandbox wrote to its root filesystem: the exclusive bytes of its btrfs snapshot's quota
 * group (the bytes its disk limit counts), from `btrfs qgroup show -f` (one short process per read).
 * Its text table is parsed, not its JSON: btrfs-progs 6.2 (Debian 12) aborts on `--format json
 * qgroup show --raw`. The answer is bounded and checked before it is believed.
 */
import { runCommand } from './command.js';

/** `0/257   5017600   5017600   2147483648   sandboxes/sb-…` (max exclusive may be `none`). */
const ROW = /^0\/\d+\s+(\d+)\s+(\d+)\s+(\d+|none)\s/m;

export async function readSnapshotUsage(path: string): Promise<{ usedBytes: number; limitBytes: number | null } | undefined> {
  const r = await runCommand(['btrfs', 'qgroup', 'show', '-f', '-e', '--raw', path], { timeoutMs: 5000 }).catch(() => undefined);
  if (!r || r.code !== 0 || r.stdout.length > 64 * 1024) return undefined;
  const m = ROW.exec(r.stdout);
  if (!m) return undefined;
  const used = Number(m[2]);
  const max = m[3] === 'none' ? null : Number(m[3]);
  if (!Number.isSafeInteger(used)) return undefined;
  return { usedBytes: used, limitBytes: max !== null && Number.isSafeInteger(max) && max > 0 ? max : null };
}
