/**
 * Image builds end to end on a real server: a Debian base from a loopback registry, RUN steps in
 * gVisor (and runc) sandboxes, COPY from the context and from stages, the step cache, whiteouts,
 * failing and cancelled builds (which must leave nothing), and the 4xx answers to bad input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newDataDir, startTestServer, type TestServer } from '@airlock/testkit/harness.js';
import { build, buildUrl, context, layerEvents, leftovers, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';

let env: BaseRegistry;
let srv: TestServer;
let runtimes: string[] = [];

const APP = 'import os\nprint("app says", os.environ.get("MODE"), os.getcwd())\n';

const multiStage = (base: string) => `# syntax=docker/dockerfile:1
ARG BASE=${base}
FROM $BASE AS builder
ARG GREETING=hi
RUN mkdir -p /out \\
 && echo "$GREETING" > /out/greeting \\
 && python3 -c "print(6 * 7)" > /out/answer
FROM \${BASE}
RUN useradd -u 1234 -m app && rm /etc/issue
COPY --from=builder /out /srv/out
COPY --chown=app:app app.py /home/app/
COPY --chmod=0755 run.sh /usr/local/bin/
WORKDIR /home/app
USER app
ENV MODE=prod
CMD ["python3", "app.py"]
`;

async function sh(image: string, cmd: string, runtime = runtimes[0]!): Promise<any> {
  const sb = await srv.api.create({ image, runtime });
  try {
    return await srv.api.exec(sb.id, { cmd: ['sh', '-c', cmd] });
  } finally {
    await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
  }
}

before(async () => {
  env = await startBaseRegistry();
  srv = await startTestServer(newDataDir('build'));
  const health = await srv.api.call('GET', '/v1/health');
  runtimes = health.body.runtimes.filter((r: any) => r.available && r.name !== 'bwrap' && r.name !== 'microvm').map((r: any) => r.name);
});

after(async () => {
  await srv?.close();
  await env?.registry.stop();
});

describe('image build', { timeout: 900_000 }, () => {
  test('a multi-stage build: RUN in a sandbox, COPY --from, --chown, --chmod, USER, WORKDIR, ENV, ARG; a sandbox runs the result', async () => {
    const r = await build(srv, context(multiStage(env.base), { 'app.py': APP, 'run.sh': '#!/bin/sh\necho run\n' }), {
      tag: 'test/multi:1',
      buildArg: 'GREETING=hello',
    });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.equal(r.events[0].type, 'build');
    assert.ok(r.events.some((e) => e.type === 'step' && e.instruction.startsWith('RUN useradd')));
    assert.deepEqual(r.image.references, ['docker.io/test/multi:1']);
    assert.equal(r.image.config.user, 'app');
    assert.equal(r.image.config.workingDir, '/home/app');
    for (const runtime of runtimes) {
      const out = await sh(
        'test/multi:1',
        'id -u; pwd; cat /srv/out/greeting /srv/out/answer; stat -c "%U:%G %a" app.py /usr/local/bin/run.sh; test -e /etc/issue || echo no-issue',
        runtime,
      );
      assert.equal(out.stdout, `1234\n/home/app\nhello\n42\napp:app 644\nroot:root 755\nno-issue\n`, `${runtime}: ${out.stderr}`);
    }
    const sb = await srv.api.create({ image: 'test/multi:1', runtime: runtimes[0] });
    const cmd = await srv.api.exec(sb.id, {});
    await srv.api.call('DELETE', `/v1/sandboxes/${sb.id}`);
    assert.equal(cmd.stdout, 'app says prod /home/app\n', 'CMD, ENV and WORKDIR are the image defaults');
    assert.deepEqual(await leftovers(srv), []);
  });

  test('an unchanged rebuild takes every step from the cache; a changed file rebuilds from its COPY on', async () => {
    const files = { 'app.py': APP, 'run.sh': '#!/bin/sh\necho run\n' };
    const first = await build(srv, context(multiStage(env.base), files), { tag: 'test/multi:1', buildArg: 'GREETING=hello' });
    const again = await build(srv, context(multiStage(env.base), files), { tag: 'test/multi:1', buildArg: 'GREETING=hello' });
    assert.equal(again.image.id, first.image.id, 'the same inputs give the same image');
    assert.ok(
      layerEvents(again).every((l) => l.cached),
      JSON.stringify(layerEvents(again)),
    );
    const changed = await build(srv, context(multiStage(env.base), { ...files, 'app.py': `${APP}# changed\n` }), {
      tag: 'test/multi:2',
      buildArg: 'GREETING=hello',
    });
    const steps = new Map(changed.events.filter((e) => e.type === 'step').map((e) => [e.step, e.instruction as string]));
    const layers = layerEvents(changed).map((l) => [steps.get(l.step)!.split(' ')[0] + (steps.get(l.step)!.includes('app.py') ? ' app.py' : ''), l.cached]);
    assert.deepEqual(layers, [
      ['RUN', true],
      ['RUN', true],
      ['COPY', true],
      ['COPY app.py', false],
      ['COPY', false],
    ]);
    const arg = await build(srv, context(multiStage(env.base), files), { tag: 'test/multi:3', buildArg: 'GREETING=changed' });
    assert.equal(layerEvents(arg)[0]!.cached, false, 'a build argument a RUN uses is part of its key');
    assert.notEqual(changed.image.id, first.image.id);
  });

  test('a failing RUN answers its exit code and last output, and leaves no image and no sandbox', async () => {
    const df = `FROM ${env.base}\nRUN echo first line && echo the-last-words >&2 && exit 3\nRUN echo never\n`;
    const r = await build(srv, context(df), { tag: 'test/fails:1' });
    assert.equal(r.error?.code, 'build_failed');
    assert.match(r.error!.message, /exited with code 3/);
    assert.match(r.error!.message, /the-last-words/);
    assert.equal((await srv.api.call('GET', `/v1/images/${encodeURIComponent('test/fails:1')}`)).status, 422);
    assert.deepEqual(await leftovers(srv), []);
  });

  test('a build cancelled by DELETE, or by its client going away, leaves nothing', async () => {
    const df = `FROM ${env.base}\nRUN echo started && sleep 600\n`;
    let id = '';
    const cancelled = await build(srv, context(df), { tag: 'test/cancel:1' }, (e) => {
      if (e.type === 'build') id = e.id;
      if (e.type === 'output' && e.data.includes('started')) void srv.api.call('DELETE', `/v1/images/builds/${id}`);
    });
    assert.equal(cancelled.error?.code, 'build_failed');
    assert.match(cancelled.error!.message, /cancelled/);
    assert.deepEqual(await leftovers(srv), []);
    assert.equal((await srv.api.call('DELETE', `/v1/images/builds/${id}`)).status, 404, 'a finished build is gone');

    const abort = new AbortController();
    const res = await fetch(buildUrl(srv, { tag: 'test/cancel:2' }), {
      method: 'POST',
      headers: { authorization: `Bearer ${srv.api.key}`, 'content-type': 'application/x-tar' },
      body: await (await import('@airlock/testkit/image-fixtures.js')).tarOf(context(df)),
      signal: abort.signal,
    });
    const reader = (res.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    for (let text = ''; !text.includes('started');) text += Buffer.from((await reader.next()).value!).toString();
    abort.abort();
    assert.deepEqual(await leftovers(srv), [], 'the abandoned build cleaned up');
  });

  test('FROM scratch with COPY, and RUN on a root with nothing to run', async () => {
    const ok = await build(srv, context('FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n', { 'hello.txt': 'hi' }), { tag: 'test/scratch:1' });
    assert.equal(ok.error, undefined, JSON.stringify(ok.error));
    assert.equal(ok.image.layers.length, 1);
    const bad = await build(srv, context('FROM scratch\nRUN true\n'), {});
    assert.equal(bad.error?.code, 'invalid_request');
    assert.match(bad.error!.message, /line 2: RUN needs a root filesystem/);
  });

  test('bad input: a Dockerfile that does not parse (400 with its line), a missing base (image_not_found), an unsafe context (400), a malformed --allow entry (400)', async () => {
    const parse = await build(srv, context('FROM debian\nRUN true\nVOLUME /data\n'));
    assert.equal(parse.status, 400);
    assert.match(parse.error!.message, /Dockerfile line 3: VOLUME is not supported/);
    const missing = await build(srv, context(`FROM ${env.registry.host}/no/such:image\nRUN true\n`));
    assert.equal(missing.error?.code, 'image_not_found');
    assert.match(missing.error!.message, /line 1/);
    const climb = await build(srv, [...context('FROM scratch\nCOPY x /\n'), { name: '../escape', body: 'x' }]);
    assert.equal(climb.status, 400);
    assert.match(climb.error!.message, /leaves the context/);
    const noDockerfile = await build(srv, [{ name: 'other', body: 'x' }]);
    assert.equal(noDockerfile.status, 400);
    const allow = await build(srv, context(`FROM ${env.base}\nRUN true\n`), { allow: 'bad..name*' });
    assert.equal(allow.status, 400);
    assert.match(allow.error!.message, /bad\.\.name\*/);
    assert.deepEqual(await leftovers(srv), []);
  });

  test('a context over the size limit answers 413', async () => {
    const small = await startTestServer(newDataDir('build-small'), { buildContextBytes: 64 * 1024 });
    try {
      const r = await build(small, context('FROM scratch\nCOPY big /\n', { big: 'x'.repeat(256 * 1024) }));
      assert.equal(r.status, 413);
      assert.equal(r.error?.code, 'payload_too_large');
    } finally {
      await small.close();
    }
  });

  test('.dockerignore keeps files out of the context, with exceptions', async () => {
    const r = await build(
      srv,
      context(`FROM ${env.base}\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n`, {
        '.dockerignore': '*.log\nsecret/\n!keep.log\n',
        'a.log': '1',
        'keep.log': '2',
        'secret/key': '3',
        'src/main.py': '4',
      }),
      { tag: 'test/ignore:1' },
    );
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    const out = r.events
      .filter((e) => e.type === 'output')
      .map((e) => e.data)
      .join('');
    assert.deepEqual(out.trim().split('\n'), ['/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/keep.log', '/ctx/src/main.py']);
  });

  test('heredocs, SHELL, exec-form RUN, ADD of a local tar archive, ENTRYPOINT', async () => {
    const { tarOf } = await import('@airlock/testkit/image-fixtures.js');
    const archive = await tarOf([
      { name: 'pkg/', type: 'directory' },
      { name: 'pkg/data.txt', body: 'from the archive' },
    ]);
    const df = `FROM ${env.base}
SHELL ["/bin/bash", "-c"]
RUN <<EOF
echo "bash $BASH_VERSION" | cut -c1-6 > /shell
EOF
RUN ["/bin/sh", "-c", "echo exec > /exec"]
COPY <<EOF /etc/motd.d/hello
hello from a heredoc
EOF
ADD files.tar /opt/
ENTRYPOINT ["cat"]
CMD ["/shell"]
`;
    const r = await build(srv, [...context(df), { name: 'files.tar', body: archive }], { tag: 'test/forms:1' });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    const out = await sh('test/forms:1', 'cat /shell /exec /etc/motd.d/hello /opt/pkg/data.txt');
    assert.equal(out.stdout, 'bash 5\nexec\nhello from a heredoc\nfrom the archive');
    assert.deepEqual([r.image.config.entrypoint, r.image.config.cmd], [['cat'], ['/shell']]);
  });
});
