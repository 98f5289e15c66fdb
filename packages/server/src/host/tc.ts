/**
 * @module tc
 * The optional bandwidth cap of a sandbox, on the host end of its veth: a token bucket on egress
 * (what the sandbox receives) and a policer on ingress (what it sends). Both directions get the
 * same rate.
 */
import { checkCommand } from './command.js';

export async function setBandwidth(hostVeth: string, mbit: number | null): Promise<void> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(hostVeth)) throw new Error(`tc: unsafe interface name ${hostVeth}`);
  const kbit = mbit === null ? 0 : Math.max(8, Math.round(mbit * 1000));
  // Burst: ~10 ms at the rate, never below 16 KiB (a few full-size segments).
  const burst = Math.max(16 * 1024, Math.round((kbit * 1000) / 8 / 100));
  const lines =
    mbit === null
      ? [`qdisc del dev ${hostVeth} root`, `qdisc del dev ${hostVeth} ingress`]
      : [
          `qdisc replace dev ${hostVeth} root tbf rate ${kbit}kbit burst ${burst} latency 100ms`,
          `qdisc replace dev ${hostVeth} handle ffff: ingress`,
          `filter replace dev ${hostVeth} parent ffff: prio 1 matchall action police rate ${kbit}kbit burst ${burst} conform-exceed drop`,
        ];
  // -force: keep going past "no such qdisc" when removing a cap that was never set.
  await checkCommand(['tc', ...(mbit === null ? ['-force'] : []), '-b', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 10_000 }).catch((e) => {
    if (mbit !== null) throw e;
  });
}
