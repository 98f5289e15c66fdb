/**
 * @module files-ops
 * Wire schemas of the file operations beyond read/write/list: stat, exists, mkdir -p, remove,
 * rename, chmod, multi-file writes, directory archives (tar) and watch. Every path is resolved by
 * the agent inside the sandbox, with the rights of the operation's user.
 */
import { z } from 'zod';
import { FileUser, SandboxPath } from './files.js';

const Mode = z.string().regex(/^[0-7]{3,4}$/, 'mode is octal permission bits, e.g. 755');

export const StatQuery = z.object({
  path: SandboxPath,
  user: FileUser,
  follow: z.enum(['true', 'false']).optional().describe('Follow a final symlink (default true)'),
});

export const FileStat = z
  .object({
    path: z.string(),
    type: z.enum(['file', 'dir', 'symlink', 'other']),
    size: z.number(),
    mode: z.number().int(),
    uid: z.number().int(),
    gid: z.number().int(),
    mtime: z.string().describe('RFC 3339'),
    target: z.string().nullable().describe("A symlink's target"),
  })
  .meta({ id: 'FileStat' });
export type FileStat = z.infer<typeof FileStat>;

export const Exists = z.object({ path: z.string(), exists: z.boolean() }).meta({ id: 'Exists' });

export const MkdirRequest = z
  .object({ path: SandboxPath, mode: Mode.optional(), parents: z.boolean().optional().describe('mkdir -p (default true)'), user: FileUser })
  .strict()
  .meta({ id: 'MkdirRequest' });
export const RemoveQuery = z.object({ path: SandboxPath, recursive: z.enum(['true', 'false']).optional(), user: FileUser });
export const RenameRequest = z
  .object({ from: SandboxPath, to: SandboxPath, overwrite: z.boolean().optional().describe('Replace an existing target (default true)'), user: FileUser })
  .strict()
  .meta({ id: 'RenameRequest' });
export const ChmodRequest = z.object({ path: SandboxPath, mode: Mode, user: FileUser }).strict().meta({ id: 'ChmodRequest' });

export const ListQuery = z.object({
  path: SandboxPath,
  user: FileUser,
  depth: z.coerce.number().int().min(1).max(32).optional().describe('Levels to list (default 1); deeper names are relative, e.g. sub/file'),
});

export const BatchWriteRequest = z
  .object({
    files: z
      .array(z.object({ path: SandboxPath, content: z.string(), encoding: z.enum(['utf8', 'base64']).optional(), mode: Mode.optional() }).strict())
      .min(1),
    user: FileUser,
  })
  .strict()
  .meta({ id: 'BatchWriteRequest' });
export type BatchWriteRequest = z.infer<typeof BatchWriteRequest>;

export const BatchWriteResult = z.object({ files: z.array(z.object({ path: z.string(), bytes: z.number().int() })) }).meta({ id: 'BatchWriteResult' });

export const ArchiveQuery = z.object({ path: SandboxPath, user: FileUser });
export const ArchiveResult = z.object({ path: z.string(), entries: z.number().int(), bytes: z.number().int() }).meta({ id: 'ArchiveResult' });

export const WatchQuery = z.object({ path: SandboxPath, user: FileUser, recursive: z.enum(['true', 'false']).optional() });

export const WATCH_EVENT_KINDS = ['create', 'write', 'remove', 'rename_from', 'rename_to', 'chmod', 'moved', 'overflow'] as const;

/** One line of GET …/files/watch (application/x-ndjson). */
export const WatchEventWire = z
  .object({
    type: z.enum([...WATCH_EVENT_KINDS, 'ready', 'error']),
    path: z.string().optional().describe('Relative to the watched path'),
    cookie: z.number().int().optional().describe('Pairs rename_from with its rename_to'),
    code: z.string().optional(),
    message: z.string().optional(),
  })
  .meta({ id: 'WatchEvent' });
export type WatchEventWire = z.infer<typeof WatchEventWire>;
