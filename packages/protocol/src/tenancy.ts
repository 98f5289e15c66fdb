/**
 * @module tenancy
 * Projects, their keys, quotas and audit log as the API reports them. A project is the unit of
 * tenancy: it owns sandboxes, image references and keys, and nothing in it is visible to another.
 */
import { z } from 'zod';

export { KEY_ROLES } from './names.js';
import { KEY_ROLES } from './names.js';
export type KeyRole = (typeof KEY_ROLES)[number];

export const ProjectName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a project name is 1-63 lowercase letters, digits and dashes, starting with a letter or digit')
  .describe('Project name');

/** Every quota a project has; null: no limit. */
export const Quotas = z
  .object({
    sandboxes: z.number().int().min(0).nullable().describe('Sandboxes holding host resources at once'),
    cpu: z.number().min(0).nullable().describe('vCPUs of those sandboxes together'),
    memoryMiB: z.number().int().min(0).nullable().describe('Memory of those sandboxes together, MiB'),
    diskMiB: z.number().int().min(0).nullable().describe('Root filesystem disk of those sandboxes together, MiB'),
    imageBytes: z.number().int().min(0).nullable().describe('Bytes of the images the project references (compressed plus unpacked)'),
    execs: z.number().int().min(0).nullable().describe('Execs and output streams in flight at once (exec, exec/stream, process output, attach)'),
    pulls: z.number().int().min(0).nullable().describe('Image pulls, imports and builds in flight at once'),
  })
  .strict()
  .meta({ id: 'Quotas' });
export type Quotas = z.infer<typeof Quotas>;
// names.ts lists the quotas without zod (for the CLI); names.test.ts checks it against this schema.
export { QUOTA_NAMES } from './names.js';

export const QuotaPatch = Quotas.partial().strict().meta({ id: 'QuotaPatch' });
export type QuotaPatch = z.infer<typeof QuotaPatch>;

export const Usage = z
  .object({
    sandboxes: z.number().int(),
    cpu: z.number(),
    memoryMiB: z.number().int(),
    diskMiB: z.number().int(),
    imageBytes: z.number().int(),
    execs: z.number().int(),
    pulls: z.number().int(),
  })
  .meta({ id: 'Usage' });
export type Usage = z.infer<typeof Usage>;

export const Project = z
  .object({
    name: ProjectName,
    createdAt: z.string(),
    quotas: Quotas.describe('The quotas in force (the server defaults, with this project overrides)'),
    overrides: QuotaPatch.describe('What the admin set for this project'),
    usage: Usage,
  })
  .meta({ id: 'Project' });
export type Project = z.infer<typeof Project>;

export const ProjectList = z.object({ projects: z.array(Project) }).meta({ id: 'ProjectList' });
export type ProjectList = z.infer<typeof ProjectList>;

export const CreateProjectRequest = z.object({ name: ProjectName, quotas: QuotaPatch.optional() }).strict().meta({ id: 'CreateProjectRequest' });
export type CreateProjectRequest = z.infer<typeof CreateProjectRequest>;

export const ApiKeyInfo = z
  .object({
    id: z.string().describe('Public id, safe to log; the key itself is ak_<id>_<secret>'),
    project: ProjectName,
    role: z.enum(KEY_ROLES),
    name: z.string(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiKeyInfo' });
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

export const ApiKeyList = z.object({ keys: z.array(ApiKeyInfo) }).meta({ id: 'ApiKeyList' });
export type ApiKeyList = z.infer<typeof ApiKeyList>;

export const CreateKeyRequest = z
  .object({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[\x20-\x7e]+$/, 'printable ASCII')
      .default('key'),
    role: z.enum(KEY_ROLES).default('project'),
    expiresInSeconds: z
      .number()
      .int()
      .min(1)
      .max(10 * 366 * 86400)
      .optional()
      .describe('Absent: the key never expires'),
  })
  .strict()
  .meta({ id: 'CreateKeyRequest' });
export type CreateKeyRequest = z.input<typeof CreateKeyRequest>;

export const CreatedKey = z.object({ key: z.string().describe('The key: shown once, never again'), info: ApiKeyInfo }).meta({ id: 'CreatedKey' });
export type CreatedKey = z.infer<typeof CreatedKey>;

export const AuditEvent = z
  .object({
    seq: z.number().int(),
    at: z.string(),
    keyId: z.string(),
    project: z.string().describe('The project the action was in'),
    action: z.string().describe('METHOD /route/{pattern}'),
    target: z.string().nullable().describe('The resource acted on (sandbox id, image, project, key id)'),
    status: z.number().int().describe('The HTTP status it answered'),
    result: z.string().describe('ok, or the error code'),
    argv: z.array(z.string()).nullable().describe("An exec's command (never its env)"),
  })
  .meta({ id: 'AuditEvent' });
export type AuditEvent = z.infer<typeof AuditEvent>;

export const AuditList = z.object({ events: z.array(AuditEvent) }).meta({ id: 'AuditList' });
export type AuditList = z.infer<typeof AuditList>;

export const AuditQuery = z.object({
  project: ProjectName.optional().describe('Admin keys only: another project'),
  before: z.coerce.number().int().min(0).optional().describe('Only events with a smaller seq (paging back)'),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
