/**
 * @module nft
 * Applies nftables scripts. Every script goes through one `nft -f -`, which the kernel applies as
 * one transaction: all of it or none. The server owns exactly the tables it names and never lists,
 * flushes or changes the rest of the host's ruleset.
 */
import { checkCommand, runCommand } from './command.js';

export class NftError extends Error {
  override readonly name = 'NftError';
}

export async function nftApply(script: string): Promise<void> {
  const r = await runCommand(['nft', '-f', '-'], { input: script, timeoutMs: 30_000 });
  if (r.code !== 0) throw new NftError(`nft rejected the transaction (nothing of it was applied): ${r.stderr.trim().slice(0, 2000)}`);
}

export async function nftDeleteTable(table: string): Promise<void> {
  await nftApply(`table inet ${table} {}\ndelete table inet ${table}\n`);
}

/** Names of the inet tables that start with `prefix`. */
export async function nftTables(prefix: string): Promise<string[]> {
  const r = await checkCommand(['nft', 'list', 'tables'], { timeoutMs: 30_000 });
  return r.stdout
    .split('\n')
    .map((l) => /^table inet (\S+)$/.exec(l.trim())?.[1])
    .filter((t): t is string => t !== undefined && t.startsWith(prefix));
}

/** The table as nft prints it (tests and diagnostics). */
export async function nftListTable(table: string): Promise<string> {
  return (await checkCommand(['nft', 'list', 'table', 'inet', table], { timeoutMs: 30_000 })).stdout;
}

export async function nftAvailable(): Promise<boolean> {
  try {
    return (await runCommand(['nft', '--version'], { timeoutMs: 10_000 })).code === 0;
  } catch {
    return false;
  }
}

/** The elements of a set of the table as nft prints them (tests and diagnostics); undefined when there is no such set. */
export async function nftSetElements(table: string, set: string): Promise<string[] | undefined> {
  const r = await runCommand(['nft', '-j', 'list', 'set', 'inet', table, set], { timeoutMs: 30_000 });
  if (r.code !== 0) return undefined;
  const items = (JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables;
  return (items.find((i) => i.set)?.set?.elem ?? []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
}
