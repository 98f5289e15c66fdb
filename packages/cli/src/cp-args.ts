/**
 * @module cp-args
 * Parses `airlock cp SRC DST`: exactly one side is `ID:/abs/path` in a sandbox, the other a local
 * path or `-` (stdin when uploading, stdout when downloading). A local path that contains a
 * colon can be written `./a:b`.
 */
import { UsageError } from './errors.js';

export type CpPlan =
  | { direction: 'upload'; local: string; sandboxId: string; remotePath: string }
  | { direction: 'download'; local: string; sandboxId: string; remotePath: string };

interface Remote {
  sandboxId: string;
  path: string;
}

const REMOTE = /^([A-Za-z0-9][A-Za-z0-9_-]*):(.*)$/;

export function parseRemote(arg: string): Remote | undefined {
  const match = REMOTE.exec(arg);
  if (match === null) return undefined;
  const [, sandboxId = '', path = ''] = match;
  if (!path.startsWith('/')) throw new UsageError(`${arg}: the path in the sandbox must be absolute (ID:/path)`);
  return { sandboxId, path };
}

export function parseCpArgs(src: string, dst: string): CpPlan {
  const from = parseRemote(src);
  const to = parseRemote(dst);
  if (from !== undefined && to !== undefined) throw new UsageError('copying between two sandboxes is not supported; one side must be local');
  if (from === undefined && to === undefined) throw new UsageError('one of SRC and DST must be ID:/path in a sandbox');
  if (src === '' || dst === '') throw new UsageError('empty path');
  if (to !== undefined) return { direction: 'upload', local: src, sandboxId: to.sandboxId, remotePath: to.path };
  return { direction: 'download', local: dst, sandboxId: from!.sandboxId, remotePath: from!.path };
}

/** `docker cp` style: copying onto a directory keeps the file's name. */
export function intoDirectory(dir: string, fromPath: string): string {
  const name =
    fromPath
      .split('/')
      .filter((s) => s !== '')
      .pop() ?? '';
  if (name === '') throw new UsageError(`${fromPath}: cannot copy a directory; cp copies single files`);
  return `${dir.replace(/\/+$/, '')}/${name}`;
}
