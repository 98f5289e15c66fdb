/**
 * @module peer-groups
 * The peer groups (issue #12) as nft holds them: how many members each project's group has in the
 * table, so that a group is created with its first member and removed with its last, in the same
 * transaction as that member's rules. Every nft change that joins or leaves a group runs here, one
 * after the other, so those decisions rest on what the table really holds: two sandboxes joining a
 * new group at once never race a removal of it. Other nft work does not wait for this queue.
 */
import { nftApply } from '../host/nft.js';
import { addPeerGroupScript, removePeerGroupScript, type SandboxSpec, type TableSpec } from './nft-ruleset.js';

export class PeerGroups {
  readonly #members = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();

  /** Runs `fn` on the queue when it touches a group (`involved`), at once otherwise. */
  run<T>(involved: boolean, fn: () => Promise<T>): Promise<T> {
    if (!involved) return fn();
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Applies a sandbox's script with the group work it needs: the group it joins is created first
   * when nft holds no member of it yet, the group it leaves is removed last when that was its last
   * member. Call it inside run(true, …).
   */
  async apply(t: TableSpec, leaves: SandboxSpec | undefined, joins: SandboxSpec | undefined, script: string): Promise<void> {
    const from = leaves?.peers;
    const to = joins?.peers;
    if (from === to) return nftApply(script);
    const create = to !== undefined && (this.#members.get(to) ?? 0) === 0;
    const remove = from !== undefined && this.#members.get(from) === 1;
    await nftApply((create ? addPeerGroupScript(t, to) : '') + script + (remove ? removePeerGroupScript(t, from) : ''));
    if (to !== undefined) this.#members.set(to, (this.#members.get(to) ?? 0) + 1);
    if (from !== undefined) {
      const left = (this.#members.get(from) ?? 1) - 1;
      if (left > 0) this.#members.set(from, left);
      else this.#members.delete(from);
    }
  }

  /** After the whole table was rebuilt from these sandboxes (tableScript creates their groups). */
  reset(specs: readonly SandboxSpec[]): void {
    this.#members.clear();
    for (const s of specs) if (s.peers !== undefined) this.#members.set(s.peers, (this.#members.get(s.peers) ?? 0) + 1);
  }
}
