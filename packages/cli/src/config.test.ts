import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConnection, type ReadFile } from './config.js';
import { UsageError } from './errors.js';

const creds =
  (text: string): ReadFile =>
  (path) => {
    assert.equal(path, '/data/credentials.json');
    return text;
  };
const missing: ReadFile = () => {
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};
const env = { AIRLOCK_DATA_DIR: '/data' };
const file = creds('{"url":"http://127.0.0.1:7070","apiKey":"filekey"}');

describe('resolveConnection', { timeout: 60_000 }, () => {
  it('prefers flags, then the environment', () => {
    const full = { ...env, AIRLOCK_URL: 'http://env', AIRLOCK_API_KEY: 'envkey' };
    assert.deepEqual(
      [resolveConnection({ url: 'http://flag', apiKey: 'flagkey' }, full, missing)].map((c) => [c.url, c.apiKey]),
      [['http://flag', 'flagkey']],
    );
    const fromEnv = resolveConnection({}, full, missing);
    assert.equal(fromEnv.url, 'http://env');
    assert.equal(fromEnv.apiKey, 'envkey');
  });

  it('falls back to the local credentials file', () => {
    const c = resolveConnection({}, env, file);
    assert.equal(c.url, 'http://127.0.0.1:7070');
    assert.equal(c.apiKey, 'filekey');
    assert.equal(resolveConnection({}, {}, () => '{}').credentialsPath, '/var/lib/airlock/credentials.json');
  });

  it('never sends the local key to another server', () => {
    const c = resolveConnection({ url: 'https://elsewhere.example' }, env, file);
    assert.equal(c.url, 'https://elsewhere.example');
    assert.equal(c.apiKey, undefined);
    assert.equal(resolveConnection({ url: 'http://127.0.0.1:7070/' }, env, file).apiKey, 'filekey');
  });

  it('says whose key the file holds when the URL names another server (another port)', () => {
    const c = resolveConnection({ url: 'http://127.0.0.1:7071' }, env, file);
    assert.equal(c.apiKey, undefined);
    assert.match(c.credentialsProblem ?? '', /holds the key of http:\/\/127\.0\.0\.1:7070, not of http:\/\/127\.0\.0\.1:7071/);
  });

  it('explains an unreadable or broken file', () => {
    const denied: ReadFile = () => {
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    };
    assert.match(resolveConnection({}, env, denied).credentialsProblem ?? '', /not readable/);
    assert.match(resolveConnection({}, env, creds('{oops')).credentialsProblem ?? '', /not valid JSON/);
    assert.equal(resolveConnection({}, env, missing).credentialsProblem, undefined);
  });

  it('a named profile from the config dir wins over the environment; flags still win over it', () => {
    const profiles: ReadFile = (path) => {
      assert.equal(path, '/home/u/.config/airlock/config.json');
      return JSON.stringify({ profiles: { prod: { url: 'https://prod.example', apiKey: 'ak_prod' }, nokey: { url: 'https://x' } } });
    };
    const e = { HOME: '/home/u', AIRLOCK_URL: 'http://env', AIRLOCK_API_KEY: 'envkey' };
    const c = resolveConnection({ profile: 'prod' }, e, profiles);
    assert.deepEqual([c.url, c.apiKey], ['https://prod.example', 'ak_prod']);
    assert.deepEqual([resolveConnection({}, { ...e, AIRLOCK_PROFILE: 'prod' }, profiles).apiKey], ['ak_prod'], 'AIRLOCK_PROFILE names one too');
    assert.equal(resolveConnection({ profile: 'prod', apiKey: 'flag' }, e, profiles).apiKey, 'flag');
    assert.equal(resolveConnection({ profile: 'prod' }, { XDG_CONFIG_HOME: '/home/u/.config' }, profiles).url, 'https://prod.example');
    assert.match(resolveConnection({ profile: 'nokey' }, e, profiles).credentialsProblem ?? '', /no apiKey/);
    assert.throws(() => resolveConnection({ profile: 'nope' }, e, profiles), UsageError);
    assert.throws(() => resolveConnection({ profile: 'prod' }, e, missing), /there is no/);
    assert.deepEqual([resolveConnection({}, e, profiles).apiKey], ['envkey'], 'no profile asked for: as before');
  });
});
