/**
 * @module chown
 * `--chown=user[:group]` of COPY and ADD as Docker reads it: numbers as they are, names looked up in
 * the image's own /etc/passwd and /etc/group (read through scoped paths, bounded: the image is
 * untrusted). A user without a group takes the user's primary group, or the same number for a uid.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDirectory } from '../scoped-path.js';
import { DockerfileError } from './dockerfile-lexer.js';

const MAX_DB = 4 * 1024 * 1024;
const ID = /^\d{1,10}$/;

export function resolveOwner(spec: string, root: string | undefined, line: number): { uid: number; gid: number } {
  const [user, group, extra] = spec.split(':');
  if (extra !== undefined || !user) throw new DockerfileError(`--chown=${spec} must be user, user:group, uid or uid:gid`, line);
  const passwd = () => database(root, 'etc/passwd');
  let uid: number;
  let primary: number | undefined;
  if (ID.test(user)) {
    uid = Number(user);
    primary = uid;
  } else {
    const row = passwd().find((r) => r[0] === user);
    if (!row || !ID.test(row[2] ?? '') || !ID.test(row[3] ?? ''))
      throw new DockerfileError(`--chown: user ${JSON.stringify(user)} is not in the image's /etc/passwd`, line);
    uid = Number(row[2]);
    primary = Number(row[3]);
  }
  if (group === undefined || group === '') return { uid, gid: primary };
  if (ID.test(group)) return { uid, gid: Number(group) };
  const row = database(root, 'etc/group').find((r) => r[0] === group);
  if (!row || !ID.test(row[2] ?? '')) throw new DockerfileError(`--chown: group ${JSON.stringify(group)} is not in the image's /etc/group`, line);
  return { uid, gid: Number(row[2]) };
}

function database(root: string | undefined, rel: string): string[][] {
  if (root === undefined) return [];
  const path = join(root, resolveDirectory(root, rel));
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size > MAX_DB) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
