/**
 * `airlock shell` and `airlock exec -it` driven through tmux, as a user at a terminal: keys go in
 * with send-keys, the screen is read with capture-pane. Resize is seen by `stty size`, the shell's
 * exit status comes out as the CLI's. Also `airlock cp -r` of a tree both ways.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { TEST_KEY, startTestServer, type TestServer } from '@airlock/testkit';
import { CLI, runCli } from './run-cli.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const session = `airlock-shell-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session);

async function seen(what: RegExp, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (what.test(s)) return s;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what} on the screen:\n${s}`);
    await delay(100);
  }
}

describe('airlock shell through tmux', { timeout: 180_000, skip: hasTmux ? false : 'tmux is not installed' }, () => {
  let t: TestServer;
  let id: string;
  let dir: string;

  before(async () => {
    t = await startTestServer();
    id = (await t.api.create({ runtime: 'runc' })).id;
    dir = mkdtempSync(join(tmpdir(), 'airlock-shell-'));
    const env = `AIRLOCK_URL=${t.server.url} AIRLOCK_API_KEY=${TEST_KEY}`;
    // A plain sh in a pane of 100x30, from which the CLI is run as a user would.
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `env -i PATH=${process.env.PATH} ${env} PS1='host$ ' sh`);
    await seen(/host\$/);
  });
  after(async () => {
    spawnSync('tmux', ['-L', session, 'kill-server']);
    if (dir) rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  test('an interactive shell: keys in, screen out, size and resize, the exit status out', async () => {
    tmux('send-keys', '-t', session, `${process.execPath} ${CLI} shell ${id}`, 'Enter');
    await seen(/bash-[0-9.]+\$\s*$/m);
    tmux('send-keys', '-t', session, 'echo "six times seven is $((6*7))"; stty size', 'Enter');
    const s = await seen(/six times seven is 42\s*\n\s*30 100/);
    assert.match(s, /30 100/, 'the terminal inside has the pane size');
    tmux('resize-window', '-t', session, '-x', '120', '-y', '40');
    await delay(300);
    tmux('send-keys', '-t', session, 'clear; stty size', 'Enter');
    await seen(/^40 120\s*$/m);
    tmux('send-keys', '-t', session, 'exit 3', 'Enter');
    await seen(/^host\$\s*$/m);
    tmux('send-keys', '-t', session, 'echo "cli exit=$?"', 'Enter');
    await seen(/cli exit=3/);
  });

  test('exec -it runs a program on a terminal (python REPL)', async () => {
    tmux('send-keys', '-t', session, 'clear', 'Enter');
    tmux('send-keys', '-t', session, `${process.execPath} ${CLI} exec -it ${id} -- python3 -q`, 'Enter');
    // Not anchored at the line's start: typed ahead of the shell's prompt, the REPL's may follow it on one line.
    await seen(/>>>\s*$/m);
    tmux('send-keys', '-t', session, 'print(sum(range(10)))', 'Enter');
    await seen(/^45$/m);
    tmux('send-keys', '-t', session, 'C-d');
    await seen(/^host\$\s*$/m);
    tmux('send-keys', '-t', session, 'echo "repl exit=$?"', 'Enter');
    await seen(/repl exit=0/);
  });

  test('cp -r: a tree with symlinks, modes and empty directories, both ways', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'empty'), { recursive: true });
    mkdirSync(join(src, 'd'));
    writeFileSync(join(src, 'd', 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    writeFileSync(join(src, 'd', 'secret'), 's', { mode: 0o600 });
    symlinkSync('d/run.sh', join(src, 'link'));
    const env = { PATH: process.env.PATH, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY };
    const up = await runCli(env, ['cp', '-r', src, `${id}:/home/user/tree`]);
    assert.equal(up.code, 0, up.stderr);
    const inside = await t.api.exec(id, { cmd: 'cd /home/user/tree && stat -c "%n %a" empty d/run.sh d/secret && readlink link && ./link' });
    assert.equal(inside.stdout, 'empty 755\nd/run.sh 755\nd/secret 600\nd/run.sh\nran\n');
    const back = join(dir, 'back');
    const down = await runCli(env, ['cp', '-r', `${id}:/home/user/tree`, back]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(readFileSync(join(back, 'd', 'run.sh'), 'utf8'), '#!/bin/sh\necho ran\n');
    assert.equal(statSync(join(back, 'd', 'secret')).mode & 0o777, 0o600);
    assert.equal(readlinkSync(join(back, 'link')), 'd/run.sh');
    assert.ok(statSync(join(back, 'empty')).isDirectory());
  });
});
