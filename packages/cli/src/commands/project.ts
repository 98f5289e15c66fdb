/**
 * @module commands/project
 * `airlock project create|ls|rm|quota`: projects and their quotas (an admin key).
 */
import { Command } from 'commander';
import type { Project, QuotaPatch } from '@airlock/protocol';
import { QUOTA_NAMES } from '@airlock/protocol/names';
import { clientFrom } from '../config.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../table.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

/** `sandboxes=10 cpu=8 memoryMiB=none`: `none` lifts a quota. */
export function parseQuotas(pairs: string[]): QuotaPatch {
  const patch: Record<string, number | null> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    if (!(QUOTA_NAMES as readonly string[]).includes(name))
      throw new UsageError(`quota ${JSON.stringify(pair)} must be NAME=VALUE with NAME one of ${QUOTA_NAMES.join(', ')}`);
    const raw = pair.slice(eq + 1);
    const value = raw === 'none' ? null : Number(raw);
    if (value !== null && (!Number.isFinite(value) || value < 0))
      throw new UsageError(`quota ${name}: ${JSON.stringify(raw)} is not a non-negative number (or none)`);
    patch[name] = value;
  }
  return patch as QuotaPatch;
}

const show = (v: number | null) => (v === null ? '-' : String(v));

export function formatProjects(projects: Project[]): string {
  return formatTable(
    ['NAME', 'SANDBOXES', 'CPU', 'MEM', 'EXECS', 'CREATED'],
    projects.map((p) => [
      p.name,
      `${p.usage.sandboxes}/${show(p.quotas.sandboxes)}`,
      `${p.usage.cpu}/${show(p.quotas.cpu)}`,
      `${p.usage.memoryMiB}M/${show(p.quotas.memoryMiB)}`,
      `${p.usage.execs}/${show(p.quotas.execs)}`,
      p.createdAt,
    ]),
  );
}

export function formatQuotas(p: Project): string {
  return formatTable(
    ['QUOTA', 'LIMIT', 'IN USE', 'SET FOR THIS PROJECT'],
    QUOTA_NAMES.map((q) => [q, show(p.quotas[q]), String(p.usage[q]), q in p.overrides ? 'yes' : '']),
  );
}

export function projectCommand(): Command {
  const project = new Command('project').description('projects: their own sandboxes, images, keys and quotas (admin key)');
  const create = new Command('create')
    .description('create a project')
    .argument('<name>')
    .option('--quota <name=value...>', 'quotas (sandboxes, cpu, memoryMiB, diskMiB, imageBytes, execs, pulls; none: no limit)');
  addConnectionOptions(create).action(async (name: string, options: { quota?: string[] }, self: Command) => {
    const p = await clientFrom(connectionFlags(self)).projects.create(name, { quotas: parseQuotas(options.quota ?? []) });
    process.stdout.write(`${p.name}\n`);
  });
  const ls = new Command('ls').description('list projects with usage/quota').option('--json', 'print as JSON');
  addConnectionOptions(ls).action(async (options: { json?: boolean }, self: Command) => {
    const list = await clientFrom(connectionFlags(self)).projects.list();
    process.stdout.write(options.json === true ? `${JSON.stringify(list, null, 2)}\n` : formatProjects(list));
  });
  const rm = new Command('rm').description('delete a project and revoke its keys (refused while it has sandboxes)').argument('<name>');
  addConnectionOptions(rm).action(async (name: string, _o: unknown, self: Command) => {
    await clientFrom(connectionFlags(self)).projects.delete(name);
    process.stdout.write(`${name}\n`);
  });
  const quota = new Command('quota')
    .description("show a project's quotas, or set some: airlock project quota NAME sandboxes=10 cpu=none")
    .argument('<name>')
    .argument('[quotas...]')
    .option('--json', 'print as JSON');
  addConnectionOptions(quota).action(async (name: string, pairs: string[], options: { json?: boolean }, self: Command) => {
    const airlock = clientFrom(connectionFlags(self));
    const p = pairs.length === 0 ? await airlock.projects.get(name) : await airlock.projects.setQuotas(name, parseQuotas(pairs));
    process.stdout.write(options.json === true ? `${JSON.stringify(p, null, 2)}\n` : formatQuotas(p));
  });
  for (const c of [create, ls, rm, quota]) project.addCommand(c);
  return project;
}
