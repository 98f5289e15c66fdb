/**
 * @module boot
 * Boots the stock-host guest once and always cleans up: two virtiofsds (the project tree read-only,
 * through a read-only bind in a private mount namespace; the scratch read-write), QEMU with its
 * temporary disk overlay in the run's directory, and that directory itself. Whatever happens (a
 * pass, a failure, the deadline, a signal to this process), no QEMU, virtiofsd, socket or overlay
 * file is left: each process is ended by its pid and waited for, then the directory is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { hostTscKhz } from '@airlock/server/internal/host/vm/accel.js';
import type { Accel } from '@airlock/server/internal/host/vm/qemu-argv.js';
import { stockGuestArgv } from '@airlock/server/internal/host/vm/stock-guest-argv.js';

export interface BootInput {
  image: string;
  kernel: string;
  initrd: string;
  tree: string;
  /** scripts/stock-host-init.sh: the guest's init, handed over through the scratch. */
  initScript: string;
  runScript: string;
  accel: Accel;
  vcpus: number;
  memoryMiB: number;
  deadlineMs: number;
  /** Where the console, the run's log and its TAP output are copied before the run directory goes. */
  logDir: string;
  /** Progress lines (the guest's run.log as it grows). */
  progress: (line: string) => void;
}

export interface BootResult {
  /** run.sh's exit code, or undefined when the guest never wrote one (it did not boot, or hit the deadline). */
  exitCode: number | undefined;
  timedOut: boolean;
  initFailure: string | undefined;
  wallMs: number;
  tap: string;
  consoleTail: string;
}

const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';

function waitExit(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

async function end(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.pid === undefined) return;
  if (p.exitCode === null && p.signalCode === null) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitExit(p);
}

async function waitForSocket(path: string, p: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (existsSync(path)) return;
    if (p.exitCode !== null) throw new Error(`${what} exited (${p.exitCode}) before its socket appeared`);
    await delay(20);
  }
  throw new Error(`${what} did not create its socket`);
}

const readOr = (path: string, fallback = '') => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};

export async function bootStockGuest(b: BootInput): Promise<BootResult> {
  const t0 = Date.now();
  const run = mkdtempSync('/var/tmp/airlock-stock-host-');
  const scratch = join(run, 'scratch');
  const tmp = join(run, 'tmp');
  mkdirSync(scratch, { mode: 0o755 });
  mkdirSync(tmp, { mode: 0o700 });
  writeFileSync(join(scratch, 'init.sh'), readFileSync(b.initScript), { mode: 0o755 });
  writeFileSync(join(scratch, 'run.sh'), b.runScript, { mode: 0o755 });
  const consoleFile = join(run, 'console.log');
  const procs: ChildProcess[] = [];
  let qemu: ChildProcess | undefined;
  const stopOnSignal = () => void Promise.all(procs.map(end));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const treeSocket = join(run, 'tree.sock');
    const scratchSocket = join(run, 'scratch.sock');
    const errLog = openSync(join(run, 'host-stderr.log'), 'a');
    // The tree read-only for the guest: a read-only bind in a mount namespace of virtiofsd's own, so the
    // guest's root cannot write into the checkout whatever it sends (virtiofsd runs as root).
    const ro =
      'set -e; mount --make-rprivate /; mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; exec "$2" --socket-path="$3" -o source="$1" -o sandbox=namespace -o cache=always -o no_posix_lock -o no_flock -o log_level=err';
    const treeFs = spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', ro, 'virtiofs-tree', b.tree, VIRTIOFSD, treeSocket], {
      stdio: ['ignore', errLog, errLog],
    });
    procs.push(treeFs);
    const scratchFs = spawn(
      VIRTIOFSD,
      [`--socket-path=${scratchSocket}`, '-o', `source=${scratch}`, '-o', 'sandbox=namespace', '-o', 'cache=none', '-o', 'log_level=err'],
      { stdio: ['ignore', errLog, errLog] },
    );
    procs.push(scratchFs);
    closeSync(errLog);
    await waitForSocket(treeSocket, treeFs, 'the tree virtiofsd');
    await waitForSocket(scratchSocket, scratchFs, 'the scratch virtiofsd');
    const tscKhz = b.accel === 'tcg' ? hostTscKhz() : undefined;
    const argv = stockGuestArgv({
      accel: b.accel,
      vcpus: b.vcpus,
      memoryMiB: b.memoryMiB,
      kernel: b.kernel,
      initrd: b.initrd,
      image: b.image,
      treePath: b.tree,
      treeSocket,
      scratchSocket,
      consoleFile,
      ...(tscKhz ? { tscKhz } : {}),
    });
    const qemuErr = openSync(join(run, 'qemu-stderr.log'), 'a');
    // TMPDIR: where snapshot=on puts the guest's writes; inside the run directory, so they go with it.
    qemu = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', qemuErr, qemuErr], env: { ...process.env, TMPDIR: tmp } });
    procs.push(qemu);
    closeSync(qemuErr);
    let shown = 0;
    let timedOut = false;
    const exited = waitExit(qemu);
    for (;;) {
      const done = await Promise.race([exited.then(() => true), delay(2000).then(() => false)]);
      const log = readOr(join(scratch, 'run.log'));
      if (log.length > shown) {
        const lines = log.slice(shown).split('\n');
        const last = lines.pop() ?? '';
        for (const l of lines) b.progress(l.slice(0, 400));
        shown = log.length - last.length;
      }
      if (done) break;
      if (Date.now() - t0 > b.deadlineMs) {
        timedOut = true;
        b.progress(`deadline of ${Math.round(b.deadlineMs / 1000)} s reached: stopping the guest`);
        break;
      }
    }
    await end(qemu);
    const code = readOr(join(scratch, 'exit-code')).trim();
    const consoleText = readOr(consoleFile);
    mkdirSync(b.logDir, { recursive: true });
    const taps = readdirSync(scratch)
      .filter((f) => /^results-\d{1,2}\.tap$/.test(f))
      .sort();
    for (const f of ['scratch/run.log', ...taps.map((t) => `scratch/${t}`), 'console.log', 'qemu-stderr.log', 'host-stderr.log']) {
      if (existsSync(join(run, f))) copyFileSync(join(run, f), join(b.logDir, f.replace('scratch/', '')));
    }
    return {
      exitCode: /^\d{1,3}$/.test(code) ? Number(code) : undefined,
      timedOut,
      initFailure: readOr(join(scratch, 'init-failed')).slice(0, 500) || /STOCK-HOST-INIT-FAILED: (.{0,300})/.exec(consoleText)?.[1],
      wallMs: Date.now() - t0,
      tap: taps.map((t) => readOr(join(scratch, t))).join('\n'),
      consoleTail: consoleText.split('\n').slice(-30).join('\n'),
    };
  } finally {
    for (const p of procs) await end(p);
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    rmSync(run, { recursive: true, force: true });
  }
}
