/**
 * The canary: secrets planted in a key, in a sandbox's env and in an exec's env must not appear in
 * the server's log (at trace level), the audit log, error bodies or the database file; only the
 * key's hash may. Positive controls: the planted env really reaches the sandbox, the search finds
 * what is there (the key's hash, the sandbox id) so a miss is not the search's blindness.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Api, newDataDir, recordSandbox } from '@airlock/testkit/harness.js';
import { spawnServer } from '@airlock/testkit/spawn-server.js';

describe('secrets stay out of logs, audit, error bodies and the database', { timeout: 5 * 60_000 }, () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  test('canaries in a key, a sandbox env and an exec env are found nowhere but as the key hash', async () => {
    const dataDir = newDataDir('canary');
    const lines: string[] = [];
    const { child, api: admin } = await spawnServer(dataDir, children, { logLevel: 'trace', onLine: (l) => lines.push(l) });
    const envCanary = `canary-env-${randomBytes(12).toString('hex')}`;
    const execCanary = `canary-exec-${randomBytes(12).toString('hex')}`;
    const bodies: string[] = [];
    const call = async (api: Api, method: string, path: string, body?: unknown) => {
      const r = await api.call(method, path, body);
      bodies.push(JSON.stringify(r.body));
      return r;
    };

    assert.equal((await call(admin, 'POST', '/v1/projects', { name: 'canary' })).status, 201);
    const issued = await call(admin, 'POST', '/v1/projects/canary/keys', { name: 'k', role: 'project' });
    const key: string = issued.body.key;
    const keySecret = key.slice(key.lastIndexOf('_') + 1);
    bodies.pop(); // the one answer that carries the key, by design
    const api = new Api(admin.url, key);
    const sb = await call(api, 'POST', '/v1/sandboxes', { runtime: 'bwrap', env: { TOKEN: envCanary } });
    assert.equal(sb.status, 201);
    recordSandbox(sb.body.id);
    const id = sb.body.id as string;
    // Positive control: the env values are really there, inside.
    const used = await call(api, 'POST', `/v1/sandboxes/${id}/exec`, {
      cmd: ['sh', '-c', `test \${#TOKEN} = ${envCanary.length} && test \${#SECRET} = ${execCanary.length} && test "\${TOKEN%-*}" = canary-env`],
      env: { SECRET: execCanary },
    });
    assert.equal(used.body.exitCode, 0, JSON.stringify(used.body));
    const res = await fetch(`${admin.url}/v1/sandboxes/${id}/exec/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: ['true'], env: { SECRET: execCanary } }),
    });
    await res.text();
    // Bad requests that carry the canaries: their error bodies must not echo them.
    await call(api, 'POST', '/v1/sandboxes', { runtime: 'bwrap', env: { '1BAD': envCanary } });
    await call(api, 'POST', '/v1/sandboxes', { runtime: 'bwrap', env: { TOKEN: envCanary }, surprise: execCanary });
    await call(api, 'POST', `/v1/sandboxes/${id}/exec`, { cmd: ['true'], env: { SECRET: execCanary }, cwd: 'relative' });
    await call(api, 'POST', `/v1/sandboxes/${id}/exec`, { cmd: ['true'], env: { 'bad key': execCanary } });
    await call(new Api(admin.url, `${key}x`), 'GET', '/v1/sandboxes');
    await call(new Api(admin.url, keySecret), 'GET', '/v1/sandboxes');
    await call(api, 'GET', `/v1/sandboxes/${id}/files?path=/nonexistent-${execCanary.slice(0, 4)}`);
    const audit = await call(admin, 'GET', '/v1/audit?project=canary&limit=1000');
    assert.ok(audit.body.events.length >= 4, 'positive control: the audit log recorded the actions');
    assert.ok(
      audit.body.events.some((e: any) => e.argv?.[0] === 'sh'),
      'an exec records its argv',
    );
    await call(api, 'DELETE', `/v1/sandboxes/${id}`);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));

    const db = join(dataDir, 'db', 'airlock.db');
    const dbBytes = Buffer.concat(['', '-wal', '-shm'].filter((x) => existsSync(db + x)).map((x) => readFileSync(db + x)));
    const haystacks: [string, string][] = [
      ['server log', lines.join('\n')],
      ['audit log', JSON.stringify(audit.body)],
      ['error bodies', bodies.join('\n')],
      ['database file', dbBytes.toString('latin1')],
    ];
    assert.ok(lines.length > 0, 'positive control: the server logged something');
    assert.ok(dbBytes.includes(createHash('sha256').update(key).digest('hex')), 'positive control: the key hash is in the database');
    assert.ok(dbBytes.includes(id), 'positive control: the search sees the database contents');
    const found: string[] = [];
    for (const [where, text] of haystacks) {
      for (const [what, canary] of [
        ['key secret', keySecret],
        ['sandbox env', envCanary],
        ['exec env', execCanary],
      ] as const) {
        if (text.includes(canary)) found.push(`${what} in the ${where}`);
      }
    }
    assert.deepEqual(found, []);
  });
});
