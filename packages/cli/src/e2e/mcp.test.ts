/**
 * `airlock mcp` driven by the MCP SDK's own client, over stdio and streamable HTTP, against a real
 * server and real runc sandboxes: every tool, Python that plots coming back as an image, errors as
 * tool errors, and the session's sandboxes destroyed when it ends (a kept one survives).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { TEST_KEY, eventually, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';
import { CLI } from './run-cli.js';

/** Python with no plotting library: draws a sine curve into a PNG by hand (zlib + struct), as a plot would. */
const PLOT = `
import math, os, struct, zlib
w, h = 64, 32
rows = [[255] * w for _ in range(h)]
for x in range(w):
    rows[int((math.sin(x / w * 2 * math.pi) + 1) / 2 * (h - 1))][x] = 0
raw = b"".join(b"\\x00" + bytes(r) for r in rows)
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(os.path.join(os.environ["AIRLOCK_OUTPUT_DIR"], "sine.png"), "wb").write(png)
print("plotted", w, "x", h)
`;

function textOf(r: CallToolResult): string {
  return r.content
    .filter((c) => c.type === 'text')
    .map((c) => (c as { text: string }).text)
    .join('\n');
}

describe('airlock mcp with the MCP SDK client', { timeout: 5 * 60_000 }, () => {
  let t: TestServer;
  let env: Record<string, string>;

  before(async () => {
    t = await startTestServer();
    env = { PATH: process.env.PATH ?? '', AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY, HOME: '/nonexistent' };
  });
  after(async () => {
    await t?.close();
  });

  const state = async (id: string) => (await t.api.call('GET', `/v1/sandboxes/${id}`)).body.state as string;
  const call = async (c: Client, name: string, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as CallToolResult;

  test('stdio: every tool, a plot as an image, cleanup on exit', { timeout: 3 * 60_000 }, async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], env, stderr: 'pipe' });
    const client = new Client({ name: 'airlock-test', version: '1.0.0' });
    await client.connect(transport);
    const tools = (await client.listTools()).tools.map((x) => x.name).sort();
    assert.deepEqual(tools, ['create_sandbox', 'destroy_sandbox', 'list_files', 'port_url', 'read_file', 'run_code', 'run_command', 'write_file']);

    const created = await call(client, 'create_sandbox', { runtime: 'runc', network: 'none' });
    const id = (created.structuredContent as { id: string }).id;
    recordSandbox(id);
    assert.equal(await state(id), 'running');
    const kept = (await call(client, 'create_sandbox', { runtime: 'runc', keep: true })).structuredContent as { id: string };
    recordSandbox(kept.id);

    const cmd = await call(client, 'run_command', { sandboxId: id, command: 'echo hi; echo oops >&2; exit 3' });
    assert.deepEqual([(cmd.structuredContent as { exitCode: number }).exitCode, cmd.isError], [3, undefined]);
    assert.match(textOf(cmd), /stdout:\nhi/);

    const plot = await call(client, 'run_code', { sandboxId: id, language: 'python', code: PLOT });
    assert.match(textOf(plot), /plotted 64 x 32/);
    const image = plot.content.find((c) => c.type === 'image') as { data: string; mimeType: string } | undefined;
    assert.ok(image, 'the plot comes back as image content');
    assert.equal(image.mimeType, 'image/png');
    assert.deepEqual([...Buffer.from(image.data, 'base64').subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // The interpreter's context keeps state between calls, and a last expression is the cell's value.
    await call(client, 'run_code', { sandboxId: id, code: 'v = 20' });
    assert.match(textOf(await call(client, 'run_code', { sandboxId: id, code: 'v * 2 + 2' })), /^exit code: 0 \(ok\)\nstdout:\n42\n/);
    const bash = await call(client, 'run_code', { sandboxId: id, language: 'bash', code: 'echo $((6*7))' });
    assert.match(textOf(bash), /42/);
    const broken = await call(client, 'run_code', { sandboxId: id, code: 'raise SystemExit(5)' });
    assert.equal(broken.isError, true);

    assert.match(textOf(await call(client, 'write_file', { sandboxId: id, path: '/tmp/mcp/a.txt', content: 'hello mcp' })), /wrote 9 bytes/);
    assert.equal(textOf(await call(client, 'read_file', { sandboxId: id, path: '/tmp/mcp/a.txt' })), 'hello mcp');
    assert.match(textOf(await call(client, 'list_files', { sandboxId: id, path: '/tmp/mcp' })), /a\.txt/);
    assert.match(textOf(await call(client, 'port_url', { sandboxId: id, port: 8080 })), new RegExp(`/v1/sandboxes/${id}/ports/8080/\\?airlock_token=`));

    const missing = await call(client, 'run_command', { sandboxId: 'sb-doesnotexist', command: 'true' });
    assert.equal(missing.isError, true);
    assert.match(textOf(missing), /not_found/);

    const gone = (await call(client, 'create_sandbox', { runtime: 'runc' })).structuredContent as { id: string };
    recordSandbox(gone.id);
    assert.match(textOf(await call(client, 'destroy_sandbox', { sandboxId: gone.id })), /destroyed/);
    assert.equal(await state(gone.id), 'destroyed');

    await client.close();
    await eventually('the session sandbox is destroyed when the MCP session ends', async () => ((await state(id)) === 'destroyed' ? true : undefined), 30_000);
    assert.equal(await state(kept.id), 'running', 'a kept sandbox outlives the session');
    await t.api.call('DELETE', `/v1/sandboxes/${kept.id}`);
  });

  test('streamable HTTP: a bearer token, a session, cleanup when it is closed', { timeout: 3 * 60_000 }, async () => {
    const token = 'mcp-test-token-0123456789';
    const child = spawn(process.execPath, [CLI, 'mcp', '--http', '127.0.0.1:0'], {
      env: { ...env, AIRLOCK_MCP_TOKEN: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stderr! }).on('line', (l) => {
          const m = /at (http:\/\/\S+\/mcp)$/.exec(l);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`airlock mcp exited with ${code}`)));
      });
      const init = {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      };
      const post = (headers: Record<string, string>) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
          body: JSON.stringify(init),
        });
      assert.equal((await post({})).status, 401, 'no token, no session');
      assert.equal((await post({ authorization: 'Bearer wrong-token-wrong-token-xx' })).status, 401);
      // fetch may not set Host; node:http may, as a DNS-rebinding page's browser would send it.
      const foreign = await new Promise<number>((resolve, reject) => {
        const req = request(
          url,
          { method: 'POST', headers: { host: 'evil.example', authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(init));
      });
      assert.equal(foreign, 403, 'a foreign Host is refused');

      const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
      const client = new Client({ name: 'airlock-test-http', version: '1.0.0' });
      await client.connect(transport);
      const created = await call(client, 'create_sandbox', { runtime: 'runc' });
      const id = (created.structuredContent as { id: string }).id;
      recordSandbox(id);
      const r = await call(client, 'run_code', { sandboxId: id, code: 'print(sum(range(10)))' });
      assert.match(textOf(r), /45/);
      await transport.terminateSession();
      await client.close();
      await eventually(
        'the HTTP session sandbox is destroyed when its session is closed',
        async () => ((await state(id)) === 'destroyed' ? true : undefined),
        30_000,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  });
});
