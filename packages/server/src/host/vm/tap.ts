/**
 * @module tap
 * A microVM's network: a tap device inside the sandbox's network namespace (which the network layer
 * prepared, with its policy), owned by the sandbox's uid so that the jailed QEMU can open it without
 * privileges. The guest's eth0 and the tap form a /30 of their own; the namespace routes (or drops)
 * what the guest sends from GUEST_NET.guest, so the namespace's policy applies unchanged.
 */
import { existsSync } from 'node:fs';
import { checkCommand, runCommand } from '../command.js';

export const TAP_NAME = 'airlock-vm0';

/** Link-local addresses, so they collide with nothing the namespace routes. */
export const GUEST_NET = { tap: '169.254.100.1/30', guest: '169.254.100.2/30', gateway: '169.254.100.1' };

const inNetns = (netns: string, argv: string[]) => ['nsenter', `--net=${netns}`, '--', ...argv];

export async function attachTap(netns: string, uid: number): Promise<void> {
  await checkCommand(inNetns(netns, ['ip', 'tuntap', 'add', 'dev', TAP_NAME, 'mode', 'tap', 'user', String(uid), 'group', String(uid)]), { timeoutMs: 10_000 });
  await checkCommand(inNetns(netns, ['ip', 'addr', 'add', GUEST_NET.tap, 'dev', TAP_NAME]), { timeoutMs: 10_000 });
  await checkCommand(inNetns(netns, ['ip', 'link', 'set', TAP_NAME, 'up']), { timeoutMs: 10_000 });
}

/** Removes the tap; nothing to do when the namespace (and so the tap) is already gone. */
export async function detachTap(netns: string): Promise<void> {
  if (!existsSync(netns)) return;
  const r = await runCommand(inNetns(netns, ['ip', 'link', 'del', TAP_NAME]), { timeoutMs: 10_000 });
  if (r.code !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) throw new Error(`removing ${TAP_NAME} in ${netns} failed: ${r.stderr.trim()}`);
}
