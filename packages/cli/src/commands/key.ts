/**
 * @module commands/key
 * `airlock key create|ls|revoke|rotate`: a project's API keys (an admin key). A new key is printed
 * once, alone on stdout, so that `airlock key create p > key` captures just it.
 */
import { Command } from 'commander';
import type { ApiKeyInfo, KeyRole } from '@airlock/protocol';
import { KEY_ROLES } from '@airlock/protocol/names';
import { clientFrom } from '../config.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

/** `90s`, `30m`, `12h`, `30d` → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new UsageError(`duration ${JSON.stringify(text)} must look like 90s, 30m, 12h or 30d`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

export function formatKeys(keys: ApiKeyInfo[]): string {
  return formatTable(
    ['ID', 'ROLE', 'NAME', 'CREATED', 'EXPIRES', 'REVOKED'],
    keys.map((k) => [k.id, k.role, k.name, k.createdAt, k.expiresAt ?? '-', k.revokedAt ?? '']),
  );
}

export function keyCommand(): Command {
  const key = new Command('key').description("a project's API keys (admin key)");
  const create = new Command('create')
    .description('issue a key; it is printed once and never shown again')
    .argument('<project>')
    .option('--name <name>', 'what the key is for', 'key')
    .option('--role <role>', `${KEY_ROLES.join(' | ')}`, 'project')
    .option('--expires <duration>', 'lifetime: 90s, 30m, 12h, 30d (default: never)');
  addConnectionOptions(create).action(async (project: string, o: { name: string; role: string; expires?: string }, self: Command) => {
    if (!(KEY_ROLES as readonly string[]).includes(o.role)) throw new UsageError(`--role must be one of ${KEY_ROLES.join(', ')}`);
    const created = await clientFrom(connectionFlags(self)).keys.create(project, {
      name: o.name,
      role: o.role as KeyRole,
      ...(o.expires ? { expiresInSeconds: parseDuration(o.expires) } : {}),
    });
    process.stderr.write(`airlock: key ${created.info.id} (${created.info.role}) for project ${project}; it is not shown again\n`);
    process.stdout.write(`${created.key}\n`);
  });
  const ls = new Command('ls').description("list a project's keys (never their secrets)").argument('<project>').option('--json', 'print as JSON');
  addConnectionOptions(ls).action(async (project: string, o: { json?: boolean }, self: Command) => {
    const keys = await clientFrom(connectionFlags(self)).keys.list(project);
    process.stdout.write(o.json === true ? `${JSON.stringify(keys, null, 2)}\n` : formatKeys(keys));
  });
  const revoke = new Command('revoke').description('revoke a key at once (its open streams end too)').argument('<id>', "the key's public id");
  addConnectionOptions(revoke).action(async (id: string, _o: unknown, self: Command) => {
    await clientFrom(connectionFlags(self)).keys.revoke(id);
    process.stdout.write(`${id}\n`);
  });
  const rotate = new Command('rotate').description('replace a key: prints the new one; the old one is revoked at once').argument('<id>');
  addConnectionOptions(rotate).action(async (id: string, _o: unknown, self: Command) => {
    const created = await clientFrom(connectionFlags(self)).keys.rotate(id);
    process.stderr.write(`airlock: key ${id} revoked; new key ${created.info.id}\n`);
    process.stdout.write(`${created.key}\n`);
  });
  for (const c of [create, ls, revoke, rotate]) key.addCommand(c);
  return key;
}
