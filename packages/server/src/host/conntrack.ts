/**
 * @module conntrack
 * Forgetting a sandbox's tracked flows after its policy changed, so that packets of connections
 * opened under the old policy meet the new rules (nft accepts established flows early, which is
 * what keeps the per-packet cost low). Without the conntrack tool, open flows outlive the update.
 */
import { runCommand } from './command.js';

export async function forgetFlows(sourceAddress: string): Promise<boolean> {
  if (!/^[0-9.]{7,15}$/.test(sourceAddress)) throw new Error(`conntrack: bad address ${sourceAddress}`);
  try {
    // Exit 1 with "0 flow entries have been deleted" is not a failure.
    const r = await runCommand(['conntrack', '-D', '-s', sourceAddress], { timeoutMs: 10_000 });
    return r.code === 0 || /0 flow entries/.test(r.stderr);
  } catch {
    return false;
  }
}
