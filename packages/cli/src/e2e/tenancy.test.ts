/**
 * Two projects as a new user would set them up with the CLI: `project create`, `key create`, a
 * profile per project in the config dir, then each sees only its own sandboxes (404 for the
 * other's), `project quota` holds, `key revoke` takes effect, and `audit` shows who did what.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_KEY, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';
import { runCli, type Run } from './run-cli.js';

describe('airlock project / key / audit / --profile end to end', { timeout: 5 * 60_000 }, () => {
  let t: TestServer;
  let home: string;
  let adminEnv: NodeJS.ProcessEnv;
  before(async () => {
    t = await startTestServer();
    home = mkdtempSync(join(tmpdir(), 'airlock-cli-home-'));
    adminEnv = { PATH: process.env.PATH, HOME: home, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY };
  });
  after(async () => {
    await t?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const admin = (args: string[]): Promise<Run> => runCli(adminEnv, args);
  const as = (profile: string, args: string[]): Promise<Run> => runCli({ PATH: process.env.PATH, HOME: home }, ['--profile', profile, ...args]);

  test('two projects, their keys in profiles, each sees only its own', async () => {
    for (const p of ['alpha', 'beta']) assert.equal((await admin(['project', 'create', p, '--quota', 'sandboxes=1'])).code, 0);
    const keyA = await admin(['key', 'create', 'alpha', '--name', 'ci']);
    const keyB = await admin(['key', 'create', 'beta', '--name', 'ci', '--role', 'project']);
    assert.equal(keyA.code, 0, keyA.stderr);
    assert.match(keyA.stdout, /^ak_[a-z0-9]{16}_\S+\n$/);
    mkdirSync(join(home, '.config', 'airlock'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'airlock', 'config.json'),
      JSON.stringify({ profiles: { a: { url: t.server.url, apiKey: keyA.stdout.trim() }, b: { url: t.server.url, apiKey: keyB.stdout.trim() } } }),
      { mode: 0o600 },
    );
    const created = await as('a', ['create', '--runtime', 'bwrap']);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    recordSandbox(id);
    assert.ok((await as('a', ['ls'])).stdout.includes(id));
    assert.equal((await as('b', ['ls'])).stdout.includes(id), false);
    const probe = await as('b', ['exec', id, '--', 'true']);
    assert.notEqual(probe.code, 0);
    assert.match(probe.stderr, /not_found/);
    const over = await as('a', ['create', '--runtime', 'bwrap']);
    assert.match(over.stderr, /quota_exceeded/);
    assert.match(over.stderr, /sandboxes=1/);
    const quota = await admin(['project', 'quota', 'alpha']);
    assert.match(quota.stdout, /sandboxes\s+1\s+1\s+yes/);
    assert.equal((await admin(['project', 'quota', 'alpha', 'sandboxes=2'])).code, 0);
    const audit = await as('a', ['audit', '--json']);
    const events = JSON.parse(audit.stdout) as { action: string; status: number }[];
    assert.ok(events.some((e) => e.action === 'POST /v1/sandboxes' && e.status === 201));
    assert.ok(events.some((e) => e.action === 'POST /v1/sandboxes' && e.status === 429));
    assert.equal((await as('b', ['audit', '--project', 'alpha'])).code !== 0, true, "beta cannot read alpha's audit log");
    const keys = await admin(['key', 'ls', 'alpha', '--json']);
    const keyId = (JSON.parse(keys.stdout) as { id: string }[])[0]!.id;
    assert.equal((await admin(['key', 'revoke', keyId])).code, 0);
    const refused = await as('a', ['ls']);
    assert.match(refused.stderr, /unauthenticated/);
    assert.equal((await admin(['rm', id])).code, 0);
    assert.match((await admin(['project', 'ls'])).stdout, /alpha/);
    assert.equal((await admin(['project', 'rm', 'beta'])).code, 0);
    const unknown = await as('nope', ['ls']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /profile nope is not in/);
  });
});
