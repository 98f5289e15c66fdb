/**
 * @module address-plan
 * Names and addresses of sandbox links. A server instance has a tag (six hex digits, from its data
 * dir unless configured), which names its nft table (`airlock_<tag>`), prefixes its host veths
 * (`al<tag><index as 4 hex>`, within the 15-character limit) and its namespaces
 * (`al<tag>-<sandbox id>`), so several servers (and test runs) on one host never touch each other's
 * objects. Sandbox n gets the n-th /30 of the configured subnet: the host end is .1, the sandbox .2.
 */
import type { LinkPlan } from '../host/netns.js';
import { cidrSize, formatIPv4, subnetAt, type Cidr } from './ipv4.js';

export const LINK_PREFIX_LENGTH = 30;
const MAX_INDEX = 0xffff;

export class AddressPlan {
  readonly table: string;
  readonly vethPrefix: string;
  readonly netnsPrefix: string;
  readonly capacity: number;

  constructor(
    readonly tag: string,
    readonly subnet: Cidr,
  ) {
    if (!/^[0-9a-f]{6}$/.test(tag)) throw new Error(`network instance tag "${tag}" must be six lowercase hex digits`);
    if (subnet.bits > 28) throw new Error('the sandbox subnet must be at least a /28');
    this.table = `airlock_${tag}`;
    this.vethPrefix = `al${tag}`;
    this.netnsPrefix = `al${tag}-`;
    this.capacity = Math.min(MAX_INDEX + 1, cidrSize(subnet) / 4);
  }

  link(index: number, sandboxId: string): LinkPlan & { index: number; sandboxAddressNumber: number } {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) throw new Error(`link index ${index} is outside the subnet`);
    const block = subnetAt(this.subnet, LINK_PREFIX_LENGTH, index);
    return {
      index,
      netns: `${this.netnsPrefix}${sandboxId}`,
      hostVeth: `${this.vethPrefix}${index.toString(16).padStart(4, '0')}`,
      hostAddress: formatIPv4(block.base + 1),
      sandboxAddress: formatIPv4(block.base + 2),
      sandboxAddressNumber: block.base + 2,
      prefixLength: LINK_PREFIX_LENGTH,
    };
  }
}
