/** @module machine What the numbers were measured on. */
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

export function describeMachine(): Record<string, string | number> {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
    } catch {
      return 'absent';
    }
  };
  return {
    date: new Date().toISOString(),
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    runc: version('runc', ['--version']),
    runsc: version('runsc', ['--version']),
  };
}

export function memAvailableKiB(): number {
  const m = /^MemAvailable:\s+(\d+)/m.exec(execFileSync('cat', ['/proc/meminfo'], { encoding: 'utf8' }));
  return Number(m?.[1] ?? 0);
}
