import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError, type Command } from 'commander';
import { buildProgram } from './program.js';

/** Parses argv with the verb's action replaced, returning what the action would receive. */
function parse(argv: string[]): { args: unknown[]; opts: Record<string, unknown> } {
  const errors: string[] = [];
  const program = buildProgram({ writeOut: () => undefined, writeErr: (t) => errors.push(t) });
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
  it('gives everything after -- to the command, flags included', () => {
    const { args, opts } = parse(['run', '--image', 'py', '--env', 'A=1', '--', 'python3', '-c', 'x', '--image', 'y']);
    assert.deepEqual(args, [['python3', '-c', 'x', '--image', 'y']]);
    assert.equal(opts['image'], 'py');
    assert.deepEqual(opts['env'], { A: '1' });
  });

  it('collects repeated --pool flags for serve', () => {
    assert.deepEqual(parse(['serve', '--pool', 'gvisor:4', '--pool', 'runc:4']).opts['pool'], ['gvisor:4', 'runc:4']);
  });

  it('keeps a quoted string as one argument', () => {
    assert.deepEqual(parse(['run', '--', 'echo hi']).args, [['echo hi']]);
  });

  it('accepts connection flags before and after the verb', () => {
    assert.equal(parse(['--url', 'http://a', 'ls']).opts['url'], 'http://a');
    assert.equal(parse(['ls', '--url', 'http://b']).opts['url'], 'http://b');
    const { args, opts } = parse(['exec', 'sb-1', '--api-key', 'k', '--cwd', '/tmp', '--', 'ls', '-la']);
    assert.deepEqual(args, ['sb-1', ['ls', '-la']]);
    assert.equal(opts['apiKey'], 'k');
    assert.equal(opts['cwd'], '/tmp');
    assert.equal(opts['stdin'], true);
  });

  it('run takes the command without -- too; exec needs -- before a command with flags', () => {
    assert.deepEqual(parse(['run', 'ls', '-la']).args, [['ls', '-la']]);
    assert.deepEqual(parse(['exec', 'sb-1', 'ls']).args, ['sb-1', ['ls']]);
    assert.throws(() => parse(['exec', 'sb-1', 'ls', '-la']), CommanderError);
  });

  it('takes --profile before and after the verb', () => {
    assert.equal(parse(['--profile', 'prod', 'ls']).opts['profile'], 'prod');
    assert.equal(parse(['ls', '--profile', 'dev']).opts['profile'], 'dev');
  });

  it('reports usage errors as CommanderError', () => {
    assert.throws(() => parse(['run', '--memory', 'lots', '--', 'ls']), CommanderError);
    assert.throws(() => parse(['ls', '--state', 'sleeping']), CommanderError);
    assert.throws(() => parse(['nope']), CommanderError);
  });
});
