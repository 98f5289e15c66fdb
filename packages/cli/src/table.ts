/**
 * @module table
 * Plain-text tables for `airlock ls`: left-aligned columns separated by three spaces.
 */
import type { SandboxInfo } from '@airlock/sdk';

export const SANDBOX_COLUMNS = ['ID', 'RUNTIME', 'STATE', 'IMAGE', 'CPU', 'MEM', 'AGE', 'LABELS'] as const;

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}

/** `45s`, `12m`, `3h`, `5d` — the largest whole unit. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function sandboxRow(info: SandboxInfo, now: number): string[] {
  const labels = Object.entries(info.metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [info.id, info.runtime, info.state, info.image, String(info.cpu), `${info.memoryMiB}Mi`, formatAge(now - Date.parse(info.createdAt)), labels];
}

export function formatSandboxTable(infos: readonly SandboxInfo[], now: number = Date.now()): string {
  return formatTable(
    SANDBOX_COLUMNS,
    infos.map((info) => sandboxRow(info, now)),
  );
}
