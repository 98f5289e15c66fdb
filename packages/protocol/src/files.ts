/**
 * @module files
 * Wire schemas for the file API. File bytes travel as raw request/response bodies; paths are
 * resolved by the agent inside the sandbox, never by the host.
 */
import { z } from 'zod';

export const FILE_LIMITS = { maxPathBytes: 4096, maxWriteBytes: 256 * 1024 * 1024 } as const;

export const SandboxPath = z
  .string()
  .min(1)
  .max(FILE_LIMITS.maxPathBytes)
  .startsWith('/', 'path must be absolute (start with /)')
  .refine((v) => !v.includes('\0'), 'path must not contain NUL');

/** The user a file operation runs as inside the sandbox: a name, a uid, or uid:gid. */
export const FileUser = z
  .string()
  .regex(/^([a-z_][a-z0-9_-]{0,31}|\d{1,10}(:\d{1,10})?)$/, 'user is a name, a uid, or uid:gid')
  .optional()
  .describe("Whose rights the operation has inside the sandbox; defaults to the image's default user");

export const FilePathQuery = z.object({ path: SandboxPath, user: FileUser });

export const WriteFileQuery = z.object({
  path: SandboxPath,
  mode: z
    .string()
    .regex(/^[0-7]{3,4}$/, 'mode is octal permission bits, e.g. 644')
    .optional(),
  user: FileUser,
});

export const FileEntry = z
  .object({
    name: z.string(),
    type: z.enum(['file', 'dir', 'symlink', 'other']),
    size: z.number(),
    mode: z.number().int(),
    mtime: z.string().describe('RFC 3339'),
  })
  .meta({ id: 'FileEntry' });
export type FileEntry = z.infer<typeof FileEntry>;

export const FileList = z.object({ path: z.string(), entries: z.array(FileEntry) }).meta({ id: 'FileList' });
export type FileList = z.infer<typeof FileList>;

export const WriteFileResult = z.object({ path: z.string(), bytes: z.number().int() }).meta({ id: 'WriteFileResult' });
export type WriteFileResult = z.infer<typeof WriteFileResult>;
