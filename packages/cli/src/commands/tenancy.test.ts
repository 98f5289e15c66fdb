import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../errors.js';
import { parseDuration } from './key.js';
import { parseQuotas } from './project.js';

describe('project and key arguments', { timeout: 10_000 }, () => {
  it('parses quotas, with none lifting one', () => {
    assert.deepEqual(parseQuotas(['sandboxes=10', 'cpu=2.5', 'memoryMiB=none']), { sandboxes: 10, cpu: 2.5, memoryMiB: null });
    for (const bad of ['sandboxes', 'nope=1', 'cpu=-1', 'cpu=lots', '=3']) assert.throws(() => parseQuotas([bad]), UsageError, bad);
  });

  it('parses durations', () => {
    assert.deepEqual(['90s', '30m', '12h', '30d'].map(parseDuration), [90, 1800, 43200, 2592000]);
    for (const bad of ['30', '1w', '-1d', '']) assert.throws(() => parseDuration(bad), UsageError, bad);
  });
});
