import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { intoDirectory, parseCpArgs } from './cp-args.js';
import { UsageError } from './errors.js';

describe('parseCpArgs', { timeout: 60_000 }, () => {
  it('detects the direction', () => {
    assert.deepEqual(parseCpArgs('./a.py', 'sb-1:/home/user/a.py'), {
      direction: 'upload',
      local: './a.py',
      sandboxId: 'sb-1',
      remotePath: '/home/user/a.py',
    });
    assert.deepEqual(parseCpArgs('sb-1:/tmp/out', '-'), { direction: 'download', local: '-', sandboxId: 'sb-1', remotePath: '/tmp/out' });
    assert.equal(parseCpArgs('-', 'sb-1:/tmp/in').direction, 'upload');
  });

  it('treats paths that do not start like an id as local', () => {
    assert.equal(parseCpArgs('./a:b', 'sb-1:/x').local, './a:b');
    assert.equal(parseCpArgs('/abs/a:b', 'sb-1:/x').local, '/abs/a:b');
  });

  it('rejects two remotes, two locals, and relative sandbox paths', () => {
    assert.throws(() => parseCpArgs('sb-1:/a', 'sb-2:/b'), UsageError);
    assert.throws(() => parseCpArgs('a', 'b'), UsageError);
    assert.throws(() => parseCpArgs('a', 'sb-1:rel/path'), /absolute/);
    assert.throws(() => parseCpArgs('a', 'sb-1:'), UsageError);
  });
});

describe('intoDirectory', { timeout: 60_000 }, () => {
  it('keeps the file name', () => {
    assert.equal(intoDirectory('.', '/tmp/out.csv'), './out.csv');
    assert.equal(intoDirectory('/home/user/', 'src/main.py'), '/home/user/main.py');
    assert.throws(() => intoDirectory('.', '/'), UsageError);
  });
});
