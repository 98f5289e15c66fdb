/**
 * @module exposition
 * The Prometheus text a caller may see. An admin sees every series. Anyone else sees only samples
 * labelled with their own project: server-wide series (process, latency, verdicts) describe every
 * tenant's work together, so they are not theirs to read.
 */
import type { Registry } from 'prom-client';

export async function exposition(registry: Registry, scope: { admin: boolean; project: string }): Promise<string> {
  const text = await registry.metrics();
  if (scope.admin) return text;
  const mine = `project="${scope.project.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  const out: string[] = [];
  let header: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      if (line.startsWith('# HELP')) header = [];
      header.push(line);
      continue;
    }
    if (!line.includes(mine)) continue;
    out.push(...header, line);
    header = [];
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
