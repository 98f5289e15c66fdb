/**
 * Request logs from a server in its own process: one JSON line per request with the route template,
 * status, time, key id, project and sandbox; never a body, an env value, stdin, file content or a
 * query string, though all of them carry a planted secret. On request, the same lines pretty-printed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Attach } from '@airlock/testkit/attach-client.js';
import { Api, TEST_KEY, newDataDir, recordSandbox } from '@airlock/testkit/harness.js';

const SERVER = fileURLToPath(import.meta.resolve('@airlock/testkit/server-process.js'));
const SECRET = 'PLANTED-7f3a9c-do-not-log';

async function serverWithLogs(format: 'json' | 'pretty'): Promise<{ child: ChildProcess; api: Api; lines: string[] }> {
  const dataDir = newDataDir('reqlog');
  // No uplink: like every test server, this one never forwards onto the host's interfaces.
  const config = join(dataDir, 'config.json');
  writeFileSync(config, JSON.stringify({ network: { uplinks: [] } }));
  const child = spawn(process.execPath, [SERVER, dataDir, 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AIRLOCK_CONFIG: config, AIRLOCK_LOG_FORMAT: format },
  });
  const lines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (line.startsWith('AIRLOCK_TEST_URL=')) resolve(line.slice('AIRLOCK_TEST_URL='.length));
        else lines.push(line);
      });
    }
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${lines.join('\n')}`)));
  });
  return { child, api: new Api(url, TEST_KEY), lines };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

test('one structured line per request, and no secret in any line', { timeout: 3 * 60_000 }, async () => {
  const { child, api, lines } = await serverWithLogs('json');
  let id: string | undefined;
  try {
    const sb = await api.create({ runtime: 'runc', env: { TOKEN: SECRET } });
    id = sb.id;
    const r = await api.exec(sb.id, { cmd: ['sh', '-c', 'cat; echo "$TOKEN $OTHER"'], env: { OTHER: SECRET }, stdin: SECRET });
    assert.ok(r.stdout.includes(SECRET), 'positive control: the secret really went through the server');
    const up = await api.call('PUT', `/v1/sandboxes/${sb.id}/files?path=/tmp/secret.txt`, new TextEncoder().encode(SECRET), {
      'content-type': 'application/octet-stream',
    });
    assert.ok(up.status < 300, JSON.stringify(up.body));
    await api.call('GET', `/v1/sandboxes/${sb.id}/stats?token=${SECRET}`);
    // WebSocket attaches are requests too: one that opens (101) and one with a wrong key (401).
    const p = await api.call('POST', `/v1/sandboxes/${sb.id}/processes`, { cmd: 'sleep 30' });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const attach = await Attach.open(api, sb.id, p.body.id, `?offset=0&token=${SECRET}`);
    attach.ws.close();
    await assert.rejects(Attach.open(api, sb.id, p.body.id, '', { headers: { authorization: `Bearer ${SECRET}-as-a-key` } }), /401/);
    await api.call('GET', '/v1/sandboxes/nope');
    await new Api(api.url, `${SECRET}-as-a-key`).call('GET', '/v1/sandboxes');
    await api.call('DELETE', `/v1/sandboxes/${sb.id}`);
  } finally {
    await stop(child);
  }
  const all = lines.join('\n');
  assert.ok(!all.includes(SECRET), `a log line carries the secret:\n${lines.filter((l) => l.includes(SECRET)).join('\n')}`);
  const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
  const create = requests.find((l) => l.method === 'POST' && l.route === '/v1/sandboxes');
  assert.ok(create, `a line for the create in:\n${all}`);
  assert.equal(create.status, 201);
  assert.equal(typeof create.ms, 'number');
  assert.equal(create.project, 'default');
  assert.match(String(create.key), /^[0-9a-f-]{36}$/, 'the key id, never the key');
  const exec = requests.find((l) => l.route === '/v1/sandboxes/:id/exec');
  assert.deepEqual([exec?.status, exec?.sandbox], [200, id]);
  assert.equal(requests.filter((l) => l.route === '/v1/sandboxes/:id/exec').length, 1, 'one line per request');
  const missing = requests.find((l) => l.route === '/v1/sandboxes/:id' && l.method === 'GET');
  assert.deepEqual([missing?.status, missing?.code], [404, 'not_found']);
  const unauth = requests.find((l) => l.status === 401);
  assert.ok(unauth && unauth.key === undefined, 'a refused key is not named');
  assert.ok(
    requests.some((l) => l.route === '/v1/sandboxes/:id/stats'),
    'the stats request is logged, its query is not',
  );
  const attaches = requests.filter((l) => l.route === '/v1/sandboxes/:id/processes/:pid/attach');
  assert.deepEqual(
    attaches.map((l) => [l.status, l.sandbox]),
    [
      [101, id],
      [401, id],
    ],
    `the attach lines in:\n${all}`,
  );
  assert.equal(attaches[0]!.project, 'default');
  assert.ok(attaches[1]!.key === undefined, 'a refused key is not named on an attach either');
  recordSandbox(id!);
});

test('pretty lines for a person when asked (a terminal gets them by default)', { timeout: 60_000 }, async () => {
  const { child, api, lines } = await serverWithLogs('pretty');
  try {
    assert.equal((await api.call('GET', '/v1/health')).status, 200);
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await stop(child);
  }
  const line = lines.find((l) => l.includes('GET /v1/health 200'));
  assert.ok(line, lines.join('\n'));
  assert.ok(!line.trimStart().startsWith('{'), 'not JSON');
  assert.match(line, /INFO/);
});
