/**
 * @module code-conformance
 * The code interpreter on a real runtime, with the default image (python3, node and bash from the
 * host's /usr; no matplotlib or pandas: those are tested with the code-interpreter image in
 * packages/cli/src/e2e/code-interpreter.test.ts). State across cells, every result type the display
 * protocol gives, errors with the cell's line numbers, interrupt and timeout, contexts apart, the
 * hostile cells (each with a positive control), JavaScript and bash, and the bad input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RuntimeName } from '@airlock/protocol';
import { eventually, startTestServer, type Api, type TestServer } from './harness.js';

export function codeConformance({
  runtime,
  bombStopsSandbox = false,
}: {
  runtime: RuntimeName;
  /** Why a fork bomb may end the sandbox on this runtime, if it may. */ bombStopsSandbox?: string | false;
}): void {
  describe(`code interpreter: ${runtime}`, { timeout: 600_000 }, () => {
    let t: TestServer;
    let api: Api;
    let sb: { id: string };
    const code = () => `/v1/sandboxes/${sb.id}/code`;
    const run = async (body: Record<string, unknown>) => {
      const r = await api.call('POST', `${code()}/run`, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };
    const ctx = async (body: Record<string, unknown> = {}) => {
      const r = await api.call('POST', `${code()}/contexts`, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    };
    const stdout = (ex: any) => ex.logs.stdout.join('');
    const main = (ex: any) => ex.results.find((r: any) => r.isMainResult);

    before(async () => {
      t = await startTestServer();
      api = t.api;
      sb = await api.create({ runtime });
    });
    after(async () => {
      await t?.close();
    });

    test('state across cells, the last expression, stdout and stderr apart, the execution count', { timeout: 120_000 }, async () => {
      const a = await run({ code: 'import sys\nx = 20\nprint("out"); print("err", file=sys.stderr)\nx + 1' });
      assert.equal(a.error, null);
      assert.equal(main(a).text, '21');
      assert.equal(stdout(a), 'out\n');
      assert.equal(a.logs.stderr.join(''), 'err\n');
      assert.equal(a.context, 'default-python');
      const b = await run({ code: 'x * 2' });
      assert.equal(main(b).text, '40');
      assert.equal(b.executionCount, a.executionCount + 1);
      const c = await run({ code: 'y = x;' });
      assert.deepEqual(c.results, [], 'an assignment (or a trailing ;) has no value');
      const d = await run({ code: 'import asyncio\nawait asyncio.sleep(0.01)\n"awaited"' });
      assert.equal(main(d).text, "'awaited'", 'top-level await');
    });

    test('every result type of the display protocol, display(), and the IPython.display stand-in', { timeout: 120_000 }, async () => {
      const ex = await run({
        code: [
          'import base64',
          'PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")',
          'class Rich:',
          '    def _repr_html_(self): return "<b>h</b>"',
          '    def _repr_markdown_(self): return "**m**"',
          '    def _repr_svg_(self): return "<svg></svg>"',
          '    def _repr_png_(self): return PNG',
          '    def _repr_jpeg_(self): return b"\\xff\\xd8\\xff"',
          '    def _repr_latex_(self): return "$x^2$"',
          '    def _repr_json_(self): return {"a": [1, 2, None]}',
          '    def _repr_javascript_(self): return "console.log(1)"',
          '    def _repr_pdf_(self): return b"%PDF-1.4"',
          '    def __repr__(self): return "Rich()"',
          'display(Rich(), "second")',
          'from IPython.display import HTML, Markdown',
          'display(Markdown("# t"))',
          'HTML("<i>last</i>")',
        ].join('\n'),
      });
      assert.equal(ex.error, null, JSON.stringify(ex.error));
      assert.equal(ex.results.length, 4);
      const [rich, second, md, last] = ex.results;
      assert.deepEqual(
        { ...rich },
        {
          isMainResult: false,
          text: 'Rich()',
          html: '<b>h</b>',
          markdown: '**m**',
          svg: '<svg></svg>',
          png: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
          jpeg: Buffer.from([0xff, 0xd8, 0xff]).toString('base64'),
          latex: '$x^2$',
          json: { a: [1, 2, null] },
          javascript: 'console.log(1)',
          pdf: Buffer.from('%PDF-1.4').toString('base64'),
        },
      );
      assert.deepEqual([second.text, second.isMainResult], ["'second'", false]);
      assert.equal(md.markdown, '# t');
      assert.deepEqual([last.html, last.isMainResult], ['<i>last</i>', true]);
    });

    test('errors carry name, value and a traceback with the cell lines; a syntax error too; the context lives on', { timeout: 120_000 }, async () => {
      const ex = await run({ code: 'def f():\n    return 1 / 0\n\nf()' });
      assert.equal(ex.error.name, 'ZeroDivisionError');
      assert.equal(ex.error.value, 'division by zero');
      assert.match(ex.error.traceback, /File "<cell-\d+>", line 4, in <module>/);
      assert.match(ex.error.traceback, /File "<cell-\d+>", line 2, in f\n\s+return 1 \/ 0/);
      assert.doesNotMatch(ex.error.traceback, /airlock-driver/, 'the driver is not in the traceback');
      const syn = await run({ code: 'x = (1,\nprint("never")' });
      assert.equal(syn.error.name, 'SyntaxError');
      assert.equal(stdout(syn), '');
      assert.equal(main(await run({ code: '"alive"' })).text, "'alive'");
      const exit = await run({ code: 'raise SystemExit(3)' });
      assert.equal(exit.error.name, 'SystemExit', 'sys.exit() is an error of the cell, not the end of the context');
      assert.equal(main(await run({ code: 'x' })).text, '20');
    });

    test('streaming NDJSON: start, output as it comes, results, error, end', { timeout: 120_000 }, async () => {
      const res = await fetch(`${api.url}${code()}/run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify({ code: 'import time\nprint("a", flush=True)\ntime.sleep(0.3)\ndisplay(7)\nprint("b")\nraise ValueError("v")' }),
      });
      assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
      // Output may come in several chunks: consecutive chunks of a stream are one here.
      const events: any[] = [];
      for (const e of (await res.text())
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))) {
        const last = events.at(-1);
        if (last && e.type === 'stdout' && last.type === 'stdout') last.text += e.text;
        else events.push(e);
      }
      assert.deepEqual(
        events.map((e) => e.type),
        ['start', 'stdout', 'result', 'stdout', 'error', 'end'],
      );
      assert.deepEqual([events[1].text, events[2].text, events[3].text, events[4].name], ['a\n', '7', 'b\n', 'ValueError']);
      assert.equal(events[5].stdoutTruncated, false);
    });

    test('two contexts do not share state; contexts are listed, got and deleted', { timeout: 120_000 }, async () => {
      const one = await ctx({ language: 'python', cwd: '/tmp', envs: { WHO: 'one' } });
      const two = await ctx();
      assert.match(one.id, /^ctx-/);
      assert.equal(one.state, 'idle');
      await run({ code: 'secret = 1', context: one.id });
      const other = await run({ code: 'secret', context: two.id });
      assert.equal(other.error.name, 'NameError');
      const own = await run({ code: 'import os\n(secret, os.getcwd(), os.environ["WHO"])', context: one.id });
      assert.equal(main(own).text, "(1, '/tmp', 'one')");
      const listed = (await api.call('GET', `${code()}/contexts`)).body.contexts.map((c: any) => c.id);
      assert.ok(listed.includes(one.id) && listed.includes(two.id) && listed.includes('default-python'));
      assert.equal((await api.call('GET', `${code()}/contexts/${one.id}`)).body.executionCount, 2);
      assert.equal((await api.call('DELETE', `${code()}/contexts/${two.id}`)).status, 200);
      assert.equal((await api.call('GET', `${code()}/contexts/${two.id}`)).status, 404);
      const gone = await api.call('POST', `${code()}/run`, { code: '1', context: two.id });
      assert.deepEqual([gone.status, gone.body.code], [404, 'not_found']);
    });

    test('interrupt raises KeyboardInterrupt and keeps state; restart gives fresh state', { timeout: 120_000 }, async () => {
      const c = await ctx();
      await run({ code: 'kept = 5', context: c.id });
      const running = run({ code: 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)', context: c.id });
      await waitBusy(api, `${code()}/contexts/${c.id}`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await api.call('POST', `${code()}/contexts/${c.id}/interrupt`)).status, 200);
      const ex = await running;
      assert.equal(ex.error.name, 'KeyboardInterrupt');
      assert.match(ex.error.traceback, /time\.sleep\(60\)/);
      assert.doesNotMatch(ex.error.traceback, /airlock-driver/, "not the driver's signal handler either");
      assert.equal(main(await run({ code: 'kept', context: c.id })).text, '5');
      const rs = await api.call('POST', `${code()}/contexts/${c.id}/restart`);
      assert.deepEqual([rs.status, rs.body.state], [200, 'idle']);
      assert.equal((await run({ code: 'kept', context: c.id })).error.name, 'NameError');
    });

    test('a timeout interrupts (state kept); a cell that ignores the interrupt is killed and the context recovers', { timeout: 120_000 }, async () => {
      const c = await ctx();
      await run({ code: 'kept = 6', context: c.id });
      const slow = await run({ code: 'import time\ntime.sleep(30)', context: c.id, timeoutMs: 1000 });
      assert.equal(slow.error.name, 'TimeoutError');
      assert.equal(main(await run({ code: 'kept', context: c.id })).text, '6');
      const started = Date.now();
      const stubborn = await run({ code: 'import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)', context: c.id, timeoutMs: 1000 });
      assert.equal(stubborn.error.name, 'ContextDied');
      assert.match(stubborn.error.value, /timeout of 1000 ms/);
      assert.ok(Date.now() - started < 20_000, 'killed after the grace, not after the sleep');
      const fresh = await run({ code: 'kept', context: c.id });
      assert.equal(fresh.error.name, 'NameError', 'a fresh interpreter');
    });

    test('one cell at a time: others wait in order, or get 409 if they ask', { timeout: 120_000 }, async () => {
      const c = await ctx();
      const first = run({ code: 'import time\ntime.sleep(1)\norder = [1]', context: c.id });
      await waitBusy(api, `${code()}/contexts/${c.id}`);
      const second = run({ code: 'order.append(2)\norder', context: c.id });
      const refused = await api.call('POST', `${code()}/run`, { code: '1', context: c.id, onBusy: 'reject' });
      assert.deepEqual([refused.status, refused.body.code], [409, 'invalid_state']);
      await first;
      assert.equal(main(await second).text, '[1, 2]');
    });

    test('hostile: spoofed result lines on stdout are stdout (positive control: display gives a result)', { timeout: 120_000 }, async () => {
      const control = await run({ code: 'display(41)' });
      assert.equal(control.results[0].text, '41');
      const fake = '\\x1e0123456789abcdef0123456789abcdef 99 0 {"type":"result","cell":"x","isMainResult":true,"text":"forged"}';
      const ex = await run({ code: `print('${fake}')\nprint('{"type":"end","cell":"x","executionCount":1}')\n"real"` });
      assert.equal(ex.error, null);
      assert.deepEqual(
        ex.results.map((r: any) => r.text),
        ["'real'"],
      );
      assert.match(stdout(ex), /forged/);
    });

    test("hostile: os.close(1) and sys.stdout.close() lose that cell's output only; the next cell prints", { timeout: 120_000 }, async () => {
      assert.equal(stdout(await run({ code: 'print("before")' })), 'before\n');
      const ex = await run({ code: 'import os, sys\nos.close(1)\nos.close(2)\nsys.stdout.close()\n"value still comes"' });
      assert.equal(main(ex).text, "'value still comes'");
      const next = await run({ code: 'import sys\nprint("after")\nprint("e", file=sys.stderr)' });
      assert.equal(stdout(next), 'after\n');
      assert.equal(next.logs.stderr.join(''), 'e\n');
    });

    test('hostile: writes to every fd give the right answer; closing every fd is a clear error and the context restarts', { timeout: 120_000 }, async () => {
      const c = await ctx();
      await run({ code: 'kept = 1', context: c.id });
      const ex = await run({
        context: c.id,
        code: 'import os\nfor fd in range(1024):\n    try: os.write(fd, b"\\x1ejunk 1 0 {}\\n" + os.urandom(64) + b"\\n")\n    except OSError: pass\n"survived"',
      });
      assert.equal(ex.error, null, JSON.stringify(ex.error));
      assert.equal(main(ex).text, "'survived'");
      assert.equal(main(await run({ code: 'kept', context: c.id })).text, '1', 'state kept');
      const closed = await run({ context: c.id, code: 'import os\nos.closerange(0, 65536)\n"unreachable"' });
      assert.equal(closed.error.name, 'ContextDied');
      assert.equal(closed.results.length, 0, 'never a wrong result');
      assert.equal((await run({ code: 'kept', context: c.id })).error.name, 'NameError', 'restarted with fresh state');
    });

    test('hostile: os._exit ends the interpreter with a clear error; the next cell gets a fresh one', { timeout: 120_000 }, async () => {
      const c = await ctx();
      assert.equal(main(await run({ code: '1 + 1', context: c.id })).text, '2');
      const ex = await run({ code: 'import os\nprint("bye", flush=True)\nos._exit(3)', context: c.id });
      assert.equal(ex.error.name, 'ContextDied');
      assert.match(ex.error.value, /exit code 3/);
      assert.equal(stdout(ex), 'bye\n');
      assert.equal(main(await run({ code: '2 + 2', context: c.id })).text, '4');
    });

    test('hostile: forked children end with their cell (positive control); a fork bomb is bounded and the context recovers', { timeout: 180_000 }, async () => {
      const c = await ctx();
      const forks = await run({
        context: c.id,
        code: 'import os\npids = []\nfor i in range(3):\n    p = os.fork()\n    if p == 0:\n        print("child", i, flush=True)\n        break\n    pids.append(p)\nelse:\n    for p in pids: os.waitpid(p, 0)\n    print("parent")\nlen(pids)',
      });
      assert.equal(main(forks).text, '3');
      assert.equal(forks.results.length, 1, 'a child never sends results of its own');
      assert.match(stdout(forks), /parent/);
      // The bomb gets a sandbox of its own: on gVisor it may end the sandbox (see below).
      const own = await api.create({ runtime, memoryMiB: 256 });
      const ownRun = async (body: Record<string, unknown>) => api.call('POST', `/v1/sandboxes/${own.id}/code/run`, body);
      const bomb = await ownRun({
        timeoutMs: 4000,
        code: 'import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    try: os.fork()\n    except OSError: pass',
      });
      assert.equal(bomb.status, 200);
      assert.equal(bomb.body.error.name, 'ContextDied', 'a clear error, never a hang');
      assert.equal(bomb.body.results.length, 0);
      const state = (await api.call('GET', `/v1/sandboxes/${own.id}`)).body.state;
      if (state !== 'running') {
        // gVisor: the bomb's host tasks or memory can end the sentry, and with it the sandbox (as
        // the platform's own fork-bomb probe A1 allows); the server answers on, with a clear 409.
        assert.ok(bombStopsSandbox !== false, `the sandbox stopped (${state}), which only ${runtime === 'gvisor' ? 'gvisor' : 'no runtime here'} may`);
        assert.equal((await ownRun({ code: '1' })).status, 409);
        assert.equal((await api.call('GET', '/v1/health')).status, 200);
        return;
      }
      // Processes the memory limit caught can take seconds to die (uninterruptible while the cgroup
      // reclaims); until then the sandbox is at its pids limit and a start is refused (429).
      const recovered = await eventually(
        'the context recovers',
        async () => {
          const r = await ownRun({ code: '"recovered"' });
          return r.status === 200 && main(r.body)?.text === "'recovered'" ? r : undefined;
        },
        90_000,
      );
      assert.equal(main(recovered.body).text, "'recovered'");
      // Killed bomb processes leave as the kernel gets to them (seconds on a busy host): wait for it.
      let left = '';
      await eventually(
        "the bomb's processes to be gone",
        async () => {
          left = (await api.exec(own.id, { cmd: 'ls /proc | grep -c "^[0-9]"' })).stdout.trim();
          return Number(left) < 40 ? true : undefined;
        },
        60_000,
      ).catch(() => undefined);
      assert.ok(Number(left) < 40, `the bomb's processes are gone (${left} left)`);
    });

    test('hostile: an output flood is bounded per cell and stopped by the timeout; state kept', { timeout: 180_000 }, async () => {
      const c = await ctx();
      await run({ code: 'kept = 9', context: c.id });
      const small = await run({ code: 'print("x" * 1000)', context: c.id, maxOutputBytes: 4096 });
      assert.equal(small.stdoutTruncated, false, 'the positive control is not truncated');
      const flood = await run({ code: 'while True:\n    print("y" * 4096)', context: c.id, maxOutputBytes: 65536, timeoutMs: 3000 });
      assert.equal(flood.error.name, 'TimeoutError');
      assert.equal(flood.stdoutTruncated, true);
      assert.equal(Buffer.byteLength(stdout(flood)), 65536);
      assert.equal(main(await run({ code: 'kept', context: c.id })).text, '9');
      const many = await run({ code: 'for i in range(300): display(i)', context: c.id });
      assert.deepEqual([many.results.length, many.resultsDropped], [256, 44], 'results per cell are bounded and counted');
      const big = await run({ code: '"z" * (5 * 1024 * 1024)', context: c.id });
      assert.equal(main(big).truncated, true);
      assert.ok(main(big).text.length <= 4 * 1024 * 1024);
    });

    test('JavaScript: state, top-level await, the last value, console output, errors', { timeout: 120_000 }, async () => {
      const c = await ctx({ language: 'javascript' });
      assert.equal(c.language, 'javascript');
      const a = await run({ code: 'const n = 20;\nconsole.log("hi");\nn + 1', context: c.id });
      assert.equal(a.error, null, JSON.stringify(a.error));
      assert.equal(main(a).text, '21');
      assert.equal(stdout(a), 'hi\n');
      const b = await run({ code: 'await new Promise((r) => setTimeout(r, 10));\nn * 2', context: c.id });
      assert.equal(main(b).text, '40');
      const e = await run({ code: 'null.x', context: c.id });
      assert.equal(e.error.name, 'TypeError');
      const d = await run({ code: '({a: [1, 2]})', language: 'javascript' });
      assert.equal(main(d).text, '{ a: [ 1, 2 ] }');
      // Hostile: Node cannot keep a private copy of fd 1, so closing it ends the driver: a clear error, then a fresh one.
      const closed = await run({ code: 'require("fs").closeSync(1)', context: c.id, timeoutMs: 60_000 });
      assert.equal(closed.error.name, 'ContextDied');
      assert.equal((await run({ code: 'typeof n', context: c.id })).results[0].text, "'undefined'");
    });

    test('bash: state (variables, cwd) across cells, stdout and stderr, a failing command', { timeout: 120_000 }, async () => {
      const c = await ctx({ language: 'bash' });
      await run({ code: 'cd /tmp\nX=hello', context: c.id });
      const b = await run({ code: 'echo "$X from $(pwd)"\necho oops >&2', context: c.id });
      assert.equal(stdout(b), 'hello from /tmp\n');
      assert.equal(b.logs.stderr.join(''), 'oops\n');
      assert.equal(b.error, null);
      const f = await run({ code: 'false', context: c.id });
      assert.equal(f.error.name, 'ExitCode');
      assert.equal(f.error.value, '1');
      // Hostile: the driver's own fds closed. A clear error at once (not the cell's timeout), then a fresh shell.
      const started = Date.now();
      const closed = await run({ code: 'exec 8>&- 9>&- 7<&-', context: c.id, timeoutMs: 60_000 });
      assert.equal(closed.error.name, 'ContextDied');
      assert.ok(Date.now() - started < 15_000, 'not left to the timeout');
      const fresh = await run({ code: 'echo "${X:-unset}"', context: c.id });
      assert.equal(stdout(fresh), 'unset\n');
    });

    test(
      'bad input: unknown language 400, unknown context 404, an oversize cell 413, a language mismatch 400, an unknown sandbox 404',
      { timeout: 60_000 },
      async () => {
        const lang = await api.call('POST', `${code()}/run`, { code: '1', language: 'cobol' });
        assert.deepEqual([lang.status, lang.body.code], [400, 'invalid_request']);
        const badCtx = await api.call('POST', `${code()}/contexts`, { language: 'cobol' });
        assert.equal(badCtx.status, 400);
        const before = (await api.call('GET', `${code()}/contexts`)).body.contexts.length;
        const noUser = await api.call('POST', `${code()}/contexts`, { user: 'nosuchuser' });
        assert.equal(noUser.status, 422, JSON.stringify(noUser.body));
        assert.equal((await api.call('GET', `${code()}/contexts`)).body.contexts.length, before, 'nothing half-created');
        const unknown = await api.call('POST', `${code()}/run`, { code: '1', context: 'ctx-nosuch' });
        assert.deepEqual([unknown.status, unknown.body.code], [404, 'not_found']);
        assert.equal((await api.call('POST', `${code()}/contexts/ctx-nosuch/interrupt`)).status, 404);
        const big = await api.call('POST', `${code()}/run`, { code: '#'.repeat(1024 * 1024 + 1) });
        assert.deepEqual([big.status, big.body.code], [413, 'payload_too_large']);
        await run({ code: '1' });
        const mismatch = await api.call('POST', `${code()}/run`, { code: '1', context: 'default-python', language: 'bash' });
        assert.equal(mismatch.status, 400);
        assert.equal((await api.call('POST', `/v1/sandboxes/sb-nosuch/code/run`, { code: '1' })).status, 404);
      },
    );
  });
}

async function waitBusy(api: Api, path: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await api.call('GET', path)).body.state === 'busy') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the context never became busy');
}
