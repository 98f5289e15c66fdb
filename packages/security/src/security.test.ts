/**
 * `npm run security` (and part of `npm test`): runs the adversarial suite on every runtime the
 * reviewed verdicts expect (runc, gVisor, bwrap) against a real server in its own process, and on
 * runc with one defence layer taken away at a time (in-process servers); writes the scoreboard (to
 * security/results/latest.{md,json} under `npm run security`), and fails if any verdict differs
 * from the reviewed security/expected-verdicts.json, an expected runtime did not run, a probe
 * crashed, a positive control did not fire, or anything escaped.
 *
 * An expected runtime that this host lacks fails the run. To leave runtimes out on purpose, the
 * operator names the ones to run: AIRLOCK_SECURITY_RUNTIMES=runc,bwrap (or `npm run security --
 * --runtimes runc,bwrap`); the others are listed as not run in the scoreboard. The layer variants
 * are runc's, so they run only with runc.
 * AIRLOCK_SECURITY_RECORD=1 writes the observed verdicts to the expected file for review instead.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { createInterface } from 'node:readline';
import { Api, TEST_KEY, newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit/harness.js';
import { observedVerdicts, problems, summarize, type ExpectedVerdicts } from './scoreboard.js';
import { renderMarkdown } from './scoreboard-markdown.js';
import { runSecuritySuite } from './security-suite.js';
import { LAYER_VARIANTS } from './weakened-runtime.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const EXPECTED = `${REPO}security/expected-verdicts.json`;
// `npm run security` writes the scoreboard into the repository (scripts/security.sh sets this);
// inside `npm test` it goes to the run's test root, so a test run never edits tracked files.
const RESULTS = process.env.AIRLOCK_SECURITY_RESULTS ?? `${testRoot()}/security-results`;
const SERVER = fileURLToPath(import.meta.resolve('@airlock/testkit/server-process.js'));
// microvm only on request (AIRLOCK_SECURITY_RUNTIMES=microvm), because under TCG its run takes many
// minutes (a VM per probe sandbox and per attack; security/results/microvm.md). Its kernel-surface
// probes meet the guest's kernel and are judged `guest only` when the host is shown untouched
// (confineToGuest in scoreboard.ts); its reviewed verdicts are in expected-verdicts.json.
const RUNTIME_ORDER = ['runc', 'gvisor', 'bwrap', 'microvm'];
const DEFAULT_RUNTIMES = ['runc', 'gvisor', 'bwrap'];
const NARROWED = process.env.AIRLOCK_SECURITY_RUNTIMES?.split(',')
  .map((r) => r.trim())
  .filter(Boolean);

let server: ReturnType<typeof spawn> | undefined;
const layerServers: TestServer[] = [];
after(async () => {
  for (const s of layerServers) await s.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
  }
});

test(
  'security suite: no escapes, every control fires, every resource attack contained, verdicts as reviewed',
  { timeout: (NARROWED?.includes('microvm') ? 40 : 10) * 60_000 },
  async () => {
    const t0 = Date.now();
    const log = (line: string) => process.stderr.write(`security: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}\n`);
    for (const r of NARROWED ?? []) assert.ok(RUNTIME_ORDER.includes(r), `AIRLOCK_SECURITY_RUNTIMES names ${r}; known: ${RUNTIME_ORDER.join(', ')}`);
    const envCanary = `airlock-server-env-canary-${randomBytes(8).toString('hex')}`;
    const dataDir = newDataDir('security');
    let output = '';
    server = spawn(process.execPath, [SERVER, dataDir, 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AIRLOCK_SECURITY_CANARY: envCanary },
    });
    const keep = (d: Buffer) => {
      if (output.length < 64 * 1024 * 1024) output += d.toString('utf8');
    };
    server.stderr!.on('data', keep);
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server!.stdout! }).on('line', (line) => {
        keep(Buffer.from(`${line}\n`));
        if (line.startsWith('AIRLOCK_TEST_URL=')) resolve(line.slice('AIRLOCK_TEST_URL='.length));
      });
      server!.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output.slice(-2000)}`)));
    });
    const api = new Api(url, TEST_KEY);
    const health = (await api.call('GET', '/v1/health')).body as { runtimes: { name: string; available: boolean; reason?: string }[] };
    const wanted = RUNTIME_ORDER.filter((r) => (NARROWED ?? DEFAULT_RUNTIMES).includes(r));
    const missing = wanted.filter((r) => !health.runtimes.some((h) => h.name === r && h.available));
    // Run what there is (the scoreboard shows it); an expected runtime that did not run then fails the gate.
    const runtimes = wanted.filter((r) => !missing.includes(r));
    assert.ok(runtimes.length > 0, 'at least one runtime is available');
    const notRun = RUNTIME_ORDER.filter((r) => !wanted.includes(r)).map((runtime) => ({
      runtime,
      reason: NARROWED ? `not in AIRLOCK_SECURITY_RUNTIMES=${NARROWED.join(',')}` : 'run only on request (AIRLOCK_SECURITY_RUNTIMES), see the suite',
    }));

    if (runtimes.includes('runc')) {
      layerServers.push(
        ...(await Promise.all(LAYER_VARIANTS.map((v) => startTestServer(newDataDir(v.variant), { runtimes: ['runc'] }, { createRuntime: v.createRuntime })))),
      );
    }
    log(
      `runtimes ${runtimes.join(', ')}${missing.length ? `; MISSING ${missing.join(', ')}` : ''}${notRun.length ? `; left out ${notRun.map((n) => n.runtime).join(', ')}` : ''}`,
    );
    const board = await runSecuritySuite({
      api,
      runtimes,
      dataDir,
      serverPid: server.pid!,
      serverOutput: () => output,
      envCanary,
      workDir: mkdirTemp(),
      layers: layerServers.map((s, i) => ({ ...LAYER_VARIANTS[i]!, api: s.api, dataDir: s.server.config.dataDir })),
      notRun,
      log,
    });
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(
      `${RESULTS}/latest.json`,
      `${JSON.stringify({ ...board, summary: Object.fromEntries(board.runtimes.map((r) => [r.runtime, summarize(r)])) }, null, 2)}\n`,
    );
    const md = renderMarkdown(board);
    writeFileSync(`${RESULTS}/latest.md`, md);
    process.stderr.write(md.slice(0, md.indexOf('## Probes')));

    if (process.env.AIRLOCK_SECURITY_RECORD === '1') {
      const current = JSON.parse(readFileSync(EXPECTED, 'utf8').toString() || '{}') as ExpectedVerdicts;
      writeFileSync(EXPECTED, `${JSON.stringify({ ...current, ...observedVerdicts(board) }, null, 2)}\n`);
    }
    const expected = JSON.parse(readFileSync(EXPECTED, 'utf8')) as ExpectedVerdicts;
    const found = problems(board, expected);
    for (const r of missing) {
      const why = health.runtimes.find((h) => h.name === r)?.reason ?? 'not offered by the server';
      found.push(`${r}: expected, but not available on this host (${why}); to leave it out on purpose: AIRLOCK_SECURITY_RUNTIMES=${runtimes.join(',')}`);
    }
    log(`done; ${found.length} problem(s)`);
    assert.deepEqual(found, [], `security suite problems:\n  ${found.join('\n  ')}`);
  },
);

function mkdirTemp(): string {
  const dir = `${testRoot()}/security-work-${randomBytes(4).toString('hex')}`;
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  return dir;
}
