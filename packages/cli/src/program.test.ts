import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError, type Command } from 'commander';
import { buildProgram, verbOf } from './program.js';

/** Parses argv with the verb's action replaced, returning what the action would receive. */
async function parse(argv: string[]): Promise<{ args: unknown[]; opts: Record<string, unknown> }> {
  const errors: string[] = [];
  // The tree main builds for this command line: only the verb it names (or all of them).
  const program = await buildProgram({ writeOut: () => undefined, writeErr: (t) => errors.push(t) }, argv);
  let seen: { args: unknown[]; opts: Record<string, unknown> } | undefined;
  for (const command of program.commands) {
    command.action((...params: unknown[]) => {
      const self = params[params.length - 1] as Command;
      seen = { args: params.slice(0, -2), opts: self.optsWithGlobals() };
    });
  }
  program.parse(argv, { from: 'user' });
  assert.ok(seen, errors.join(''));
  return seen;
}

describe('argv handling', { timeout: 60_000 }, () => {
  it('gives everything after -- to the command, flags included', async () => {
    const { args, opts } = await parse(['run', '--image', 'py', '--env', 'A=1', '--', 'python3', '-c', 'x', '--image', 'y']);
    assert.deepEqual(args, [['python3', '-c', 'x', '--image', 'y']]);
    assert.equal(opts['image'], 'py');
    assert.deepEqual(opts['env'], { A: '1' });
  });

  it('collects repeated --pool flags for serve', async () => {
    assert.deepEqual((await parse(['serve', '--pool', 'gvisor:4', '--pool', 'runc:4'])).opts['pool'], ['gvisor:4', 'runc:4']);
  });

  it('keeps a quoted string as one argument', async () => {
    assert.deepEqual((await parse(['run', '--', 'echo hi'])).args, [['echo hi']]);
  });

  it('accepts connection flags before and after the verb', async () => {
    assert.equal((await parse(['--url', 'http://a', 'ls'])).opts['url'], 'http://a');
    assert.equal((await parse(['ls', '--url', 'http://b'])).opts['url'], 'http://b');
    const { args, opts } = await parse(['exec', 'sb-1', '--api-key', 'k', '--cwd', '/tmp', '--', 'ls', '-la']);
    assert.deepEqual(args, ['sb-1', ['ls', '-la']]);
    assert.equal(opts['apiKey'], 'k');
    assert.equal(opts['cwd'], '/tmp');
    assert.equal(opts['stdin'], true);
  });

  it('run takes the command without -- too; exec needs -- before a command with flags', async () => {
    assert.deepEqual((await parse(['run', 'ls', '-la'])).args, [['ls', '-la']]);
    assert.deepEqual((await parse(['exec', 'sb-1', 'ls'])).args, ['sb-1', ['ls']]);
    await assert.rejects(parse(['exec', 'sb-1', 'ls', '-la']), CommanderError);
  });

  it('takes --profile before and after the verb', async () => {
    assert.equal((await parse(['--profile', 'prod', 'ls'])).opts['profile'], 'prod');
    assert.equal((await parse(['ls', '--profile', 'dev'])).opts['profile'], 'dev');
  });

  it('reports usage errors as CommanderError', async () => {
    await assert.rejects(parse(['run', '--memory', 'lots', '--', 'ls']), CommanderError);
    await assert.rejects(parse(['ls', '--state', 'sleeping']), CommanderError);
    await assert.rejects(parse(['nope']), CommanderError);
  });
});

describe('only the verb named is loaded', { timeout: 60_000 }, () => {
  it('finds the verb after global options and their values', () => {
    assert.equal(verbOf(['ls']), 'ls');
    assert.equal(verbOf(['--url', 'http://a', '--profile', 'p', 'exec', 'sb-1']), 'exec');
    assert.equal(verbOf(['--api-key=k', 'rm', 'x']), 'rm');
    assert.equal(verbOf(['--help']), undefined);
    assert.equal(verbOf(['-V']), undefined);
    assert.equal(verbOf([]), undefined);
  });

  it('builds one verb for a command line that names one, and every verb otherwise', async () => {
    const one = await buildProgram(undefined, ['--url', 'http://a', 'ls', '--json']);
    assert.deepEqual(
      one.commands.map((c) => c.name()),
      ['ls'],
    );
    const all = await buildProgram(undefined, ['--help']);
    assert.equal(all.commands.length, 19, all.commands.map((c) => c.name()).join(' '));
    // A typo gets the whole tree, so commander can say what it does not know.
    assert.equal((await buildProgram(undefined, ['lss'])).commands.length, 19);
  });
});
