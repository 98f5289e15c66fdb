/**
 * Building images as a new user would: a Dockerfile that makes a user, copies a script and sets
 * USER, built with `airlock image build`, run with `airlock run --image`; one line changed and
 * rebuilt (only that step and the later ones rerun); pushed to a loopback registry and saved to a
 * tar. Then the SDK: a Dockerfile string, the fluent recipe, and a cancel through its signal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Airlock, Image } from '@airlock/sdk';
import { TEST_KEY, newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit';
import { leftovers, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';
import { runCli } from './run-cli.js';

describe('airlock image build, push, save; the SDK builder', { timeout: 900_000 }, () => {
  let t: TestServer;
  let base: BaseRegistry;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const airlock = (args: string[]) => runCli(env, args);
  const dockerfile = (greeting: string) => `FROM ${base.base}
RUN useradd --uid 2000 --create-home app
COPY hello.py /opt/hello.py
RUN echo "${greeting}" > /opt/greeting
USER app
WORKDIR /home/app
CMD ["python3", "/opt/hello.py"]
`;

  before(async () => {
    base = await startBaseRegistry();
    t = await startTestServer(newDataDir('cli-build'));
    env = { PATH: process.env.PATH, AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY };
    dir = mkdtempSync(join(testRoot(), 'cli-context-'));
    writeFileSync(join(dir, 'hello.py'), 'import os, pwd\nprint(open("/opt/greeting").read().strip(), pwd.getpwuid(os.getuid()).pw_name)\n');
  });
  after(async () => {
    await t?.close();
    await base?.registry.stop();
  });

  test('build shows each step, prints the id; run --image runs it as its USER', async () => {
    writeFileSync(join(dir, 'Dockerfile'), dockerfile('hello'));
    const r = await airlock(['image', 'build', '-t', 'team/hello:1', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.match(r.stderr, /\[2\/7\] RUN useradd/);
    assert.match(r.stderr, /done: layer/);
    const run = await airlock(['run', '--image', 'team/hello:1', '--', 'python3', '/opt/hello.py']);
    assert.deepEqual([run.code, run.stdout], [0, 'hello app\n'], run.stderr);
  });

  test('one line changed: the steps before it come from the cache, it and the later ones rerun', async () => {
    writeFileSync(join(dir, 'Dockerfile'), dockerfile('hello again'));
    const r = await airlock(['image', 'build', '-t', 'team/hello:2', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => /^\[\d\/7\] (RUN|COPY)|^ {4}(cached|done):/.test(l));
    assert.deepEqual(
      lines.map((l) => (l.startsWith('[') ? l.split(' ')[1] : l.trim().split(':')[0])),
      ['RUN', 'cached', 'COPY', 'cached', 'RUN', 'done'],
    );
    const run = await airlock(['run', '--image', 'team/hello:2', '--', 'python3', '/opt/hello.py']);
    assert.equal(run.stdout, 'hello again app\n');
    // Without a command, run runs the image's own CMD.
    const own = await airlock(['run', '--image', 'team/hello:2']);
    assert.deepEqual([own.code, own.stdout], [0, 'hello again app\n'], own.stderr);
  });

  test('a failing step exits non-zero with its exit code and output; -f takes a Dockerfile outside the context', async () => {
    const outside = join(mkdtempSync(join(testRoot(), 'cli-df-')), 'Failing.Dockerfile');
    writeFileSync(outside, `FROM ${base.base}\nRUN echo about-to-fail && exit 7\n`);
    const r = await airlock(['image', 'build', '-f', outside, dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exited with code 7/);
    assert.match(r.stderr, /about-to-fail/);
  });

  test('push to a loopback registry and save to a tar', async () => {
    const target = `${base.registry.host}/team/hello:2`;
    const push = await airlock(['image', 'push', 'team/hello:2', target]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`^${target.replace(/[.]/g, '\\.')}@sha256:`));
    assert.match(push.stderr, /uploaded/);
    const file = join(dir, '..', `saved-${Date.now()}.tar`);
    const save = await airlock(['image', 'save', 'team/hello:2', '-o', file]);
    assert.equal(save.code, 0, save.stderr);
    assert.equal(readFileSync(file).subarray(257, 262).toString(), 'ustar');
  });

  test('SDK: a Dockerfile string, the fluent recipe, and a cancel through the signal', async () => {
    const client = new Airlock({ url: t.server.url, apiKey: TEST_KEY });
    const fromString = await client.images.build({ dockerfile: `FROM ${base.base}\nRUN echo from-a-string > /s\n`, tags: ['sdk/string:1'] });
    assert.deepEqual(fromString.references, ['docker.io/sdk/string:1']);
    const recipe = Image.from(base.base)
      .run('echo "multi\nline" > /lines\nwc -l < /lines > /count')
      .copy('hello.py', '/app/')
      .env({ GREETING: 'it is "quoted" and $literal' })
      .workdir('/app')
      .cmd(['python3', '-c', 'import os; print(os.environ["GREETING"], open("/count").read().strip())']);
    assert.match(recipe.toDockerfile(), /^RUN <<'AIRLOCK_SCRIPT'$/m, 'a multi-line command is a heredoc script');
    const steps: string[] = [];
    const image = await client.images.build({
      dockerfile: recipe,
      context: dir,
      tags: ['sdk/recipe:1'],
      onEvent: (e) => e.type === 'step' && steps.push(e.instruction),
    });
    assert.ok(steps.some((s) => s.startsWith('COPY')));
    const sb = await client.sandboxes.create({ image: image.id, runtime: 'runc' });
    const cmd = ['python3', '-c', 'import os; print(os.environ["GREETING"], open("/count").read().strip())'];
    assert.deepEqual(image.config.cmd, cmd);
    const out = await sb.exec(cmd);
    await sb.destroy();
    assert.equal(out.stdout, 'it is "quoted" and $literal 2\n');

    const abort = new AbortController();
    const cancelled = client.images.build({
      dockerfile: `FROM ${base.base}\nRUN echo started && sleep 600\n`,
      onEvent: (e) => e.type === 'output' && e.data.includes('started') && abort.abort(),
      signal: abort.signal,
    });
    await assert.rejects(cancelled);
    assert.deepEqual(await leftovers(t), []);
  });
});
