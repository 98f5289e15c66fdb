/**
 * @module project-tag
 * A project's short fixed-length name for host objects (its cgroup level, its nft peer group): the
 * first 16 hex digits of the SHA-256 of its name, so any project name gives a valid name without
 * path or rule characters (64 bits: no collision in practice). One function, so the two never drift.
 */
import { createHash } from 'node:crypto';

export function projectTag(project: string): string {
  return createHash('sha256').update(project).digest('hex').slice(0, 16);
}
