import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_URL, resolveConfig } from './config.js';
import { AuthenticationError, InvalidRequestError } from './errors.js';

describe('resolveConfig', { timeout: 60_000 }, () => {
  it('prefers params over the environment', () => {
    const config = resolveConfig({ url: 'http://a:1/', apiKey: 'p' }, { AIRLOCK_URL: 'http://b:2', AIRLOCK_API_KEY: 'e' });
    assert.equal(config.url, 'http://a:1');
    assert.equal(config.apiKey, 'p');
  });

  it('falls back to the environment, then the default URL', () => {
    assert.equal(resolveConfig({}, { AIRLOCK_URL: 'https://b', AIRLOCK_API_KEY: 'e' }).url, 'https://b');
    const config = resolveConfig({}, { AIRLOCK_API_KEY: 'e' });
    assert.equal(config.url, DEFAULT_URL);
    assert.equal(config.apiKey, 'e');
    assert.equal(config.timeoutMs, undefined);
  });

  it('fails at construction without a key', () => {
    assert.throws(
      () => resolveConfig({}, { AIRLOCK_API_KEY: '' }),
      (e: unknown) => e instanceof AuthenticationError && e.code === 'unauthenticated' && /AIRLOCK_API_KEY/.test(e.message),
    );
  });

  it('rejects a URL that is not http(s), and a bad timeout', () => {
    assert.throws(() => resolveConfig({ url: 'ftp://x', apiKey: 'k' }, {}), InvalidRequestError);
    assert.throws(() => resolveConfig({ url: 'not a url', apiKey: 'k' }, {}), InvalidRequestError);
    assert.throws(() => resolveConfig({ apiKey: 'k', timeoutMs: 0 }, {}), InvalidRequestError);
  });
});
