/**
 * @module scoped-path
 * Resolves paths inside an image's root directory as if that directory were `/`: `..` stops at the
 * root, and symlinks (absolute or relative) are followed inside the root, never out of it. Layer
 * unpacking and every host-side write into a sandbox's rootfs go through here, because a hostile
 * image controls every name and symlink in it.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

const MAX_LINKS = 40;

export class ScopedPathError extends Error {
  override readonly name = 'ScopedPathError';
}

/** Normalises an entry name to a root-relative path without `..`, `.` or leading `/` ("" is the root). */
export function cleanEntryPath(name: string): string {
  if (name.includes('\0')) throw new ScopedPathError(`path ${JSON.stringify(name)} contains a NUL byte`);
  return posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * Resolves every component of `rel` but the last inside `root`, following symlinks within it, and
 * returns the host path of the parent plus the final name. The final component is not followed: the
 * caller creates, replaces or removes it without following (O_NOFOLLOW, lstat, unlink).
 */
export function resolveParent(root: string, rel: string): { parent: string; name: string } {
  const clean = cleanEntryPath(rel);
  if (clean === '') throw new ScopedPathError('the root itself has no parent');
  const slash = clean.lastIndexOf('/');
  const name = clean.slice(slash + 1);
  const parentRel = slash < 0 ? '' : clean.slice(0, slash);
  return { parent: posix.join(root, resolveDirectory(root, parentRel)), name };
}

/**
 * Resolves a root-relative directory path, following symlinks inside the root, and returns the
 * resolved root-relative path (no symlinks left in it). Components that do not exist are returned
 * as they are, so the caller can create them.
 */
export function resolveDirectory(root: string, rel: string): string {
  const pending = cleanEntryPath(rel).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    const host = posix.join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // Missing: the rest cannot be a symlink either.
      done.push(part, ...pending);
      break;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new ScopedPathError(`too many levels of symbolic links in ${rel}`);
    const target = readlinkSync(host);
    const base = target.startsWith('/') ? [] : done;
    const next = cleanEntryPath(posix.join('/', ...base, target))
      .split('/')
      .filter(Boolean);
    done.length = 0;
    pending.unshift(...next);
  }
  return done.join('/');
}
