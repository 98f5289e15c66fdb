/**
 * @module process-conformance
 * Processes, PTYs and the file API on a real runtime (run by each runtime's test file next to the
 * runtime conformance suite): background processes and reattach with byte-exact replay, the journal's
 * offset rule, PTYs over WebSocket (a Python REPL, resize seen by `stty size`, a flood against a slow
 * reader with server memory bounded), streaming stdin, watch events in order, every file operation,
 * a tar round trip, and the bad input the API must refuse with its own status.
 *
 * Over 400 lines on purpose, as the runtime conformance suite is: one suite of cases every runtime
 * meets in the same order, with its written skips in one place.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { RuntimeName } from '@airlock/protocol';
import { pack, extract } from 'tar-stream';
import { Attach } from './attach-client.js';
import { newDataDir, recordSandbox, startTestServer, type Api, type TestServer } from './harness.js';
import { rssOf, spawnServer } from './spawn-server.js';

async function ndjson(api: Api, path: string): Promise<{ status: number; events: any[] }> {
  const res = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.key}` } });
  if (res.status !== 200) return { status: res.status, events: [await res.json()] };
  return {
    status: 200,
    events: (await res.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  };
}

const outputOf = (events: any[]) => Buffer.concat(events.filter((e) => e.type === 'stdout' || e.type === 'stderr').map((e) => Buffer.from(e.data, 'base64')));

export function processConformance({
  runtime,
  rootInside = true,
  reopenStdout = true,
  repl = ['python3', '-q'],
  bigFile = true,
}: {
  runtime: RuntimeName;
  rootInside?: boolean;
  reopenStdout?: string | true;
  /** The interactive Python to drive (with readline: it waits in select(2), which each runtime's seccomp profile must allow). */
  repl?: string[];
  /** Why a 1 GiB file cannot be round-tripped on this runtime, if it cannot. */
  bigFile?: string | true;
}): void {
  describe(`processes and files: ${runtime}`, { timeout: 600_000 }, () => {
    let t: TestServer;
    let api: Api;
    let sb: { id: string };
    const procs = () => `/v1/sandboxes/${sb.id}/processes`;
    const start = async (body: Record<string, unknown>) => {
      const r = await api.call('POST', procs(), body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    };

    before(async () => {
      t = await startTestServer(undefined, { processes: { journalBytes: 4 * 1024 * 1024 } });
      api = t.api;
      sb = await api.create({ runtime });
    });
    after(async () => {
      await t?.close();
    });

    test('a background process outlives its clients; its output replays byte-exact from any offset', async () => {
      const p = await start({ cmd: 'for i in $(seq 1 3000); do echo "line $i"; done; read answer; echo "answer=$answer"; exit 3', tag: 'dev-server' });
      assert.equal(p.state, 'running');
      assert.match(p.id, /^proc-/);
      const listed = (await api.call('GET', `${procs()}?tag=dev-server`)).body.processes;
      assert.deepEqual(
        listed.map((x: any) => x.id),
        [p.id],
      );
      // A client attaches and goes away abruptly; the process does not notice.
      const a = await Attach.open(api, sb.id, p.id, '?offset=0');
      await a.until('the first lines', () => a.text().includes('line 3000\n'));
      a.ws.terminate();
      const still = (await api.call('GET', `${procs()}/${p.id}`)).body;
      assert.equal(still.state, 'running', 'a client leaving does not end a background process');
      const w = await api.call('POST', `${procs()}/${p.id}/stdin`, 'forty-two\n', { 'content-type': 'application/octet-stream' });
      assert.deepEqual([w.status, w.body.bytes], [200, 10]);
      const done = (await api.call('GET', `${procs()}/${p.id}/wait?timeout=60`)).body;
      assert.deepEqual([done.state, done.exitCode, done.reason], ['exited', 3, 'exit']);
      const expected = Array.from({ length: 3000 }, (_, i) => `line ${i + 1}\n`).join('') + 'answer=forty-two\n';
      const all = await ndjson(api, `${procs()}/${p.id}/output`);
      assert.equal(outputOf(all.events).toString(), expected);
      assert.deepEqual(all.events.at(-1), { type: 'exit', exitCode: 3, signal: null, reason: 'exit', offset: expected.length });
      const from = 12345;
      const tail = await ndjson(api, `${procs()}/${p.id}/output?offset=${from}`);
      assert.equal(tail.events[0].offset, from);
      assert.equal(outputOf(tail.events).toString(), expected.slice(from));
      // Reattach over WebSocket from an offset: replay, then the exit.
      const b = await Attach.open(api, sb.id, p.id, `?offset=${from}`);
      await b.until('the close', () => b.closeCode !== undefined);
      assert.equal(b.text(), expected.slice(from));
      assert.deepEqual([b.closeCode, b.control.at(-1).type, b.control.at(-1).exitCode], [4000, 'exit', 3]);
    });

    test('bad input: unknown process 404, signal after exit 409, resize without a terminal 409, an offset out of the journal 410 or a gap', async () => {
      assert.equal((await api.call('GET', `${procs()}/proc-nosuch`)).status, 404);
      assert.equal((await api.call('POST', `${procs()}/proc-nosuch/signal`, { signal: 'SIGTERM' })).status, 404);
      await assert.rejects(Attach.open(api, sb.id, 'proc-nosuch'), (e: any) => e.status === 404);
      await assert.rejects(Attach.open(api, sb.id, 'proc-nosuch', '', { headers: {} }), (e: any) => e.status === 401);
      const q = await start({ cmd: ['true'] });
      await api.call('GET', `${procs()}/${q.id}/wait?timeout=30`);
      const sig = await api.call('POST', `${procs()}/${q.id}/signal`, { signal: 'SIGKILL' });
      assert.deepEqual([sig.status, sig.body.code], [409, 'invalid_state']);
      const r = await start({ cmd: ['sleep', '30'] });
      const rs = await api.call('POST', `${procs()}/${r.id}/resize`, { cols: 100, rows: 40 });
      assert.deepEqual([rs.status, rs.body.code], [409, 'invalid_state']);
      assert.equal((await api.call('DELETE', `${procs()}/${r.id}`)).status, 409, 'a running process is not forgotten');
      await api.call('POST', `${procs()}/${r.id}/signal`, { signal: 'SIGKILL' });
      assert.equal((await api.call('GET', `${procs()}/${r.id}/wait?timeout=30`)).body.signal, 9);
      assert.equal((await api.call('DELETE', `${procs()}/${r.id}`)).status, 200);
      assert.equal((await api.call('GET', `${procs()}/${r.id}`)).status, 404, 'forgotten');
      // 6 MiB through a 4 MiB journal: the start fell out.
      const big = await start({ cmd: 'head -c 6291456 /dev/zero | tr "\\0" a' });
      await api.call('GET', `${procs()}/${big.id}/wait?timeout=60`);
      const info = (await api.call('GET', `${procs()}/${big.id}`)).body;
      assert.equal(info.output.head, 6291456);
      assert.ok(info.output.oldest > 0, 'the journal says it dropped old output');
      const gone = await api.call('GET', `${procs()}/${big.id}/output?offset=0`);
      assert.deepEqual([gone.status, gone.body.code], [410, 'offset_gone']);
      const skip = await ndjson(api, `${procs()}/${big.id}/output?offset=0&gap=skip`);
      assert.deepEqual(skip.events[0], { type: 'gap', from: 0, to: info.output.oldest });
      assert.equal(outputOf(skip.events).length, 6291456 - info.output.oldest);
      const ok = await ndjson(api, `${procs()}/${big.id}/output?offset=${info.output.oldest}&follow=false`);
      assert.equal(ok.status, 200, 'positive control: from the oldest kept byte it replays');
    });

    test('an exec can survive its client, and is then a process like any other', async () => {
      const abort = new AbortController();
      const res = await fetch(`${api.url}/v1/sandboxes/${sb.id}/exec/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cmd: 'sleep 1; echo survived', survive: true }),
        signal: abort.signal,
      });
      const first = JSON.parse(new TextDecoder().decode((await res.body!.getReader().read()).value).split('\n')[0]!);
      abort.abort();
      const done = (await api.call('GET', `${procs()}/${first.processId}/wait?timeout=30`)).body;
      assert.deepEqual([done.exitCode, done.foreground], [0, false]);
      assert.equal(outputOf((await ndjson(api, `${procs()}/${first.processId}/output`)).events).toString(), 'survived\n');
    });

    test('many readers at once: a slow one holds only its own cursor; stdin over the WebSocket', async () => {
      const p = await start({ cmd: ['cat'] });
      const slow = await Attach.open(api, sb.id, p.id, '?offset=0', { autoAck: false });
      const fast = await Attach.open(api, sb.id, p.id, '?offset=0');
      const block = Buffer.alloc(64 * 1024, 120);
      for (let i = 0; i < 64; i++) fast.send(block); // 4 MiB through cat, fed over the WebSocket
      fast.control_({ type: 'close_stdin' });
      await fast.until('everything and the exit', () => fast.closeCode !== undefined, 60_000);
      assert.deepEqual([fast.output.length, fast.closeCode], [4 * 1024 * 1024, 4000]);
      assert.ok(slow.output.length <= 2 * 1024 * 1024, `the slow reader got ${slow.output.length} bytes without acking`);
      assert.equal(slow.closeCode, undefined, 'it is still behind');
      slow.autoAck = true;
      slow.ack();
      await slow.until('the slow reader catches up', () => slow.closeCode !== undefined, 60_000);
      assert.equal(slow.output.length, 4 * 1024 * 1024);
      const sleeper = await start({ cmd: ['sleep', '30'] });
      const bad = await Attach.open(api, sb.id, sleeper.id);
      bad.ws.send('{"type":"resize","cols":"wide"}');
      await bad.until('the close', () => bad.closeCode !== undefined);
      assert.equal(bad.closeCode, 4400, 'a malformed control message has its own close code');
      assert.equal((await api.call('GET', `${procs()}/${sleeper.id}`)).body.state, 'running', 'the process does not notice');
      await api.call('POST', `${procs()}/${sleeper.id}/signal`, { signal: 'SIGKILL' });
    });

    test('a PTY over WebSocket: an interactive Python REPL, resize seen by stty size, the exit code', async () => {
      const p = await start({ cmd: repl, pty: { cols: 90, rows: 20 } });
      assert.deepEqual([p.pty, p.size], [true, { cols: 90, rows: 20 }]);
      const ticket = (await api.call('POST', `${procs()}/${p.id}/ticket`)).body;
      const a = await Attach.open(api, sb.id, p.id, '', { url: `${ticket.url}&offset=0`, headers: {} });
      assert.deepEqual(a.control[0].size, { cols: 90, rows: 20 });
      // Typed only at the prompt: readline sets the terminal up with TCSAFLUSH, which drops input typed ahead.
      await a.until('the prompt', () => a.text().includes('>>> '));
      a.send('print(6*7)\n');
      await a.until('the REPL answers', () => /\n42\r?\n/.test(a.text()));
      // A late client asks for the screen: the REPL's lines, redrawn, then live output.
      const late = await Attach.open(api, sb.id, p.id, '?snapshot=true');
      await late.until('the screen', () => late.screen !== undefined);
      assert.match(late.screen!.toString(), /print\(6\*7\)[\s\S]*42/);
      assert.equal(late.control[1].offset, late.control[0].offset, 'output goes on from where the screen was drawn');
      late.ws.close();
      a.send('import os; print(os.get_terminal_size())\n');
      await a.until('its size, then the prompt', () => /columns=90, lines=20\)\r?\n>>> $/.test(a.text()));
      a.control_({ type: 'resize', cols: 132, rows: 43 });
      a.send('import subprocess; subprocess.run(["stty", "size"])\n');
      await a.until('stty size after the resize', () => /43 132\r?\n/.test(a.text()));
      a.send('raise SystemExit(4)\n');
      await a.until('the exit', () => a.closeCode !== undefined);
      assert.deepEqual([a.closeCode, a.control.at(-1).exitCode], [4000, 4]);
      const again = await Attach.open(api, sb.id, p.id, '?ticket=reused-or-made-up', { headers: {} }).catch((e) => e);
      assert.equal(again.status, 401, 'a ticket is single-use and tied to its process');
      const ticket2 = (await api.call('POST', `${procs()}/${p.id}/ticket`)).body;
      assert.equal((await Attach.open(api, sb.id, p.id, '', { url: ticket2.url.replace(p.id, 'proc-other'), headers: {} }).catch((e) => e)).status, 401);
    });

    test('a flood on a PTY with a slow WebSocket reader keeps server memory bounded', async () => {
      const p = await start({
        cmd: ['sh', '-c', 'while :; do cat /usr/share/common-licenses/GPL-3 2>/dev/null || head -c 65536 /dev/zero; done'],
        pty: { cols: 80, rows: 24 },
      });
      const a = await Attach.open(api, sb.id, p.id, '?pace=true', { autoAck: false });
      await a.until('the first output', () => a.output.length > 0);
      global.gc?.();
      const rss0 = process.memoryUsage().rss;
      await delay(3000); // the client acks nothing meanwhile
      const rss1 = process.memoryUsage().rss;
      const info = (await api.call('GET', `${procs()}/${p.id}`)).body;
      assert.ok(a.output.length <= 2 * 1024 * 1024, `the server sent ${a.output.length} bytes beyond the client's acks`);
      assert.ok(info.output.head < 32 * 1024 * 1024, `a paced terminal held the program: ${info.output.head} bytes written`);
      assert.ok(rss1 - rss0 < 64 * 1024 * 1024, `server memory grew by ${rss1 - rss0} bytes`);
      a.ack();
      await a.until('more output once acked', () => a.output.length > 1024 * 1024);
      assert.ok(info.output.head > 0, 'positive control: the program did write');
      await api.call('POST', `${procs()}/${p.id}/signal`, { signal: 'SIGKILL' });
      // A paced reader holds the end too: the exit comes once it has taken what the program wrote.
      a.autoAck = true;
      a.ack();
      await a.until('the close', () => a.closeCode !== undefined);
      assert.equal(a.control.at(-1).signal, 9);
    });

    test('watch: an event for each operation, in order, with paths; a missing path is a 404', async () => {
      await api.call('POST', `/v1/sandboxes/${sb.id}/files/mkdir`, { path: '/tmp/w/sub' });
      const res = await fetch(`${api.url}/v1/sandboxes/${sb.id}/files/watch?path=/tmp/w&recursive=true`, { headers: { authorization: `Bearer ${api.key}` } });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      let text = '';
      const events: string[] = [];
      const next = async (until: string) => {
        while (!events.includes(until)) {
          const { value, done } = await reader.read();
          if (done) throw new Error('watch ended');
          text += new TextDecoder().decode(value);
          const lines = text.split('\n');
          text = lines.pop()!;
          for (const l of lines) {
            const e = JSON.parse(l);
            events.push(`${e.type}:${e.path}`);
          }
        }
      };
      await next('ready:');
      await api.exec(sb.id, { cmd: 'cd /tmp/w && echo x > a.txt && chmod 600 a.txt && mv a.txt sub/b.txt && rm sub/b.txt && mkdir sub/new' });
      await next('create:sub/new');
      await api.exec(sb.id, { cmd: 'echo y > /tmp/w/sub/new/deep.txt' });
      await next('write:sub/new/deep.txt');
      await reader.cancel();
      const seen = events.filter((e, i) => events.indexOf(e) === i);
      assert.deepEqual(seen, [
        'ready:',
        'create:a.txt',
        'write:a.txt',
        'chmod:a.txt',
        'rename_from:a.txt',
        'rename_to:sub/b.txt',
        'remove:sub/b.txt',
        'create:sub/new',
        'create:sub/new/deep.txt',
        'write:sub/new/deep.txt',
      ]);
      const missing = await api.call('GET', `/v1/sandboxes/${sb.id}/files/watch?path=/tmp/nope`);
      assert.deepEqual([missing.status, missing.body.code], [404, 'not_found']);
    });

    test('files: stat, exists, mkdir -p, chmod, rename, rm -r, list with a depth, multi-file writes bounded by config', async () => {
      const f = `/v1/sandboxes/${sb.id}/files`;
      assert.equal((await api.call('POST', `${f}/mkdir`, { path: '/tmp/ops/a/b', mode: '750' })).status, 200);
      const st = (await api.call('GET', `${f}/stat?path=/tmp/ops/a/b`)).body;
      assert.deepEqual([st.type, st.mode, st.uid], ['dir', 0o750, 1000], 'made as the default user');
      const batch = await api.call('POST', `${f}/batch`, {
        files: [
          { path: '/tmp/ops/a/one.txt', content: 'one' },
          { path: '/tmp/ops/a/b/two.bin', content: Buffer.from([0, 1, 2]).toString('base64'), encoding: 'base64', mode: '700' },
        ],
      });
      assert.deepEqual(batch.body.files, [
        { path: '/tmp/ops/a/one.txt', bytes: 3 },
        { path: '/tmp/ops/a/b/two.bin', bytes: 3 },
      ]);
      const many = await api.call('POST', `${f}/batch`, { files: Array.from({ length: 1001 }, (_, i) => ({ path: `/tmp/ops/m${i}`, content: '' })) });
      assert.deepEqual([many.status, many.body.code], [413, 'payload_too_large']);
      assert.equal((await api.call('GET', `${f}/exists?path=/tmp/ops/m0`)).body.exists, false, 'a refused batch wrote nothing');
      assert.equal((await api.call('POST', `${f}/chmod`, { path: '/tmp/ops/a/one.txt', mode: '600' })).status, 200);
      assert.equal((await api.call('GET', `${f}/stat?path=/tmp/ops/a/one.txt`)).body.mode, 0o600);
      const noRep = await api.call('POST', `${f}/rename`, { from: '/tmp/ops/a/one.txt', to: '/tmp/ops/a/b/two.bin', overwrite: false });
      assert.equal(noRep.status, 409);
      assert.equal((await api.call('POST', `${f}/rename`, { from: '/tmp/ops/a/one.txt', to: '/tmp/ops/a/b/moved.txt' })).status, 200);
      const deep = (await api.call('GET', `${f}/list?path=/tmp/ops&depth=3`)).body.entries.map((e: any) => e.name).sort();
      assert.deepEqual(deep, ['a', 'a/b', 'a/b/moved.txt', 'a/b/two.bin']);
      assert.equal((await api.call('DELETE', `${f}?path=/tmp/ops/a`)).status, 422, 'not empty without recursive');
      assert.equal((await api.call('DELETE', `${f}?path=/tmp/ops/a&recursive=true`)).status, 200);
      assert.equal((await api.call('GET', `${f}/exists?path=/tmp/ops/a`)).body.exists, false);
      assert.equal((await api.call('GET', `${f}/stat?path=/tmp/ops/a`)).status, 404);
      const denied = await api.call('DELETE', `${f}?path=/etc/hostname`);
      assert.ok(denied.status >= 400, 'the default user cannot remove what is not theirs');
    });

    test('a directory as tar, both ways: symlinks, modes and empty directories survive', async () => {
      await api.exec(sb.id, {
        cmd: 'mkdir -p /tmp/src/empty /tmp/src/d && echo hi > /tmp/src/d/f && chmod 751 /tmp/src/d/f && ln -s d/f /tmp/src/link && chmod 700 /tmp/src/empty',
      });
      const tarRes = await fetch(`${api.url}/v1/sandboxes/${sb.id}/files/archive?path=/tmp/src`, { headers: { authorization: `Bearer ${api.key}` } });
      assert.equal(tarRes.status, 200);
      const tarBytes = Buffer.from(await tarRes.arrayBuffer());
      const names: string[] = [];
      const ex = extract();
      ex.on('entry', (h, s, next) => {
        names.push(`${h.type}:${h.name}:${(h.mode & 0o777).toString(8)}${h.linkname ? `:${h.linkname}` : ''}`);
        s.resume();
        s.on('end', next);
      });
      await new Promise<void>((r) => {
        ex.on('finish', r);
        ex.end(tarBytes);
      });
      assert.deepEqual(names.sort(), ['directory:d/:755', 'directory:empty/:700', 'file:d/f:751', 'symlink:link:777:d/f']);
      const up = await api.call('PUT', `/v1/sandboxes/${sb.id}/files/archive?path=/tmp/dst`, tarBytes, { 'content-type': 'application/x-tar' });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      const seen = await api.exec(sb.id, { cmd: 'cd /tmp/dst && stat -c "%n %a %F" empty d d/f && readlink link && cat link' });
      assert.equal(seen.stdout, 'empty 700 directory\nd 755 directory\nd/f 751 regular file\nd/f\nhi\n');
      // An archive naming a path outside the target is refused.
      const p = pack();
      p.entry({ name: '../escape.txt' }, 'x');
      p.finalize();
      const parts: Buffer[] = [];
      for await (const c of p as unknown as AsyncIterable<Buffer>) parts.push(c);
      const evil = Buffer.concat(parts);
      const r = await api.call('PUT', `/v1/sandboxes/${sb.id}/files/archive?path=/tmp/dst2`, evil, { 'content-type': 'application/x-tar' });
      assert.deepEqual([r.status, r.body.code], [400, 'invalid_request']);
      assert.equal((await api.call('GET', `/v1/sandboxes/${sb.id}/files/exists?path=/tmp/escape.txt`)).body.exists, false);
    });

    test(
      "a 1 GiB upload and download with the server's RSS growth under 64 MiB (the server in a process of its own)",
      { skip: bigFile === true ? false : bigFile },
      async (tc) => {
        const children: ChildProcess[] = [];
        const srv = await spawnServer(newDataDir('rss'), children);
        try {
          const box = await srv.api.create({ runtime });
          recordSandbox(box.id);
          const size = 1024 * 1024 * 1024;
          const chunk = randomBytes(1024 * 1024);
          const hash = createHash('sha256');
          const rss0 = rssOf(srv.child.pid!);
          let peak = rss0;
          const sample = setInterval(() => (peak = Math.max(peak, rssOf(srv.child.pid!))), 25);
          const grown = () => `${((peak - rss0) / 1048576).toFixed(1)} MiB`;
          try {
            let sent = 0;
            const body = new ReadableStream<Uint8Array>({
              pull(c) {
                if (sent >= size) return c.close();
                sent += chunk.length;
                hash.update(chunk);
                c.enqueue(chunk);
              },
            });
            const auth = { authorization: `Bearer ${srv.api.key}` };
            const up = await fetch(`${srv.api.url}/v1/sandboxes/${box.id}/files?path=/home/user/big.bin`, {
              method: 'PUT',
              headers: { ...auth, 'content-type': 'application/octet-stream' },
              body,
              duplex: 'half',
            } as RequestInit);
            assert.equal(up.status, 200);
            assert.equal(((await up.json()) as { bytes: number }).bytes, size);
            tc.diagnostic(`upload: peak RSS growth ${grown()}`);
            const down = await fetch(`${srv.api.url}/v1/sandboxes/${box.id}/files?path=/home/user/big.bin`, { headers: auth });
            const back = createHash('sha256');
            let got = 0;
            for await (const c of down.body as unknown as AsyncIterable<Uint8Array>) {
              back.update(c);
              got += c.length;
            }
            assert.equal(got, size);
            assert.equal(back.digest('hex'), hash.digest('hex'));
          } finally {
            clearInterval(sample);
            await srv.api.call('DELETE', `/v1/sandboxes/${box.id}`);
          }
          tc.diagnostic(`upload and download: peak RSS growth ${grown()}`);
          assert.ok(peak - rss0 < 64 * 1024 * 1024, `the server's RSS grew by ${grown()}`);
        } finally {
          srv.child.kill('SIGTERM');
          await new Promise((r) => srv.child.once('exit', r));
        }
      },
    );

    if (!rootInside) return;
    test('a process started as root can reopen its own stdout as another user', { skip: reopenStdout === true ? false : reopenStdout }, async () => {
      const r = await api.exec(sb.id, { cmd: 'echo via-dev-stdout > /dev/stdout', user: 'nobody' });
      assert.equal(r.stdout, 'via-dev-stdout\n');
    });
  });
}
