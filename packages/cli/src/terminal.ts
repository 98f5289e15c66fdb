/**
 * @module terminal
 * An interactive session on a process of a sandbox, as `docker exec -it` gives: the local terminal
 * in raw mode, keystrokes to the process, its output to the screen, SIGWINCH as a resize, and the
 * process's exit status as ours. Without a local terminal (`-i` from a pipe) stdin is still
 * forwarded and closed at its end.
 */
import type { Sandbox } from '@airlock/sdk';
import { exitStatus } from './exit-code.js';

export interface SessionOptions {
  argv?: string[];
  tty: boolean;
  env?: Record<string, string>;
  user?: string;
  cwd?: string;
}

export async function interactive(sandbox: Sandbox, o: SessionOptions): Promise<number> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const size = { cols: stdout.columns || 80, rows: stdout.rows || 24 };
  const params = { ...(o.env ? { env: o.env } : {}), ...(o.user ? { user: o.user } : {}), ...(o.cwd ? { cwd: o.cwd } : {}) };
  const cmd = o.argv && o.argv.length > 0 ? o.argv : ['/bin/sh', '-c', 'if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi'];
  const info = await sandbox.processes.start(cmd, { ...params, ...(o.tty ? { pty: size } : {}) });
  const a = await sandbox.processes.connect(info.id, {
    offset: 0,
    pace: true,
    onData: (data, stream) => void (stream === 'stderr' ? process.stderr : stdout).write(data),
  });
  const raw = o.tty && stdin.isTTY === true;
  const onInput = (d: Buffer) => a.write(d);
  const onResize = () => a.resize({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onInput);
  if (!o.tty) stdin.once('end', () => a.closeStdin());
  stdin.resume();
  if (o.tty) stdout.on('resize', onResize);
  try {
    const exit = await a.wait();
    return exitStatus({ exitCode: exit.exitCode, signal: exit.signal, reason: exit.reason as never, durationMs: 0 }).code;
  } finally {
    stdin.off('data', onInput);
    stdout.off('resize', onResize);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  }
}
