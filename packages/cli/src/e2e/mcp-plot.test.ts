/**
 * "An MCP client session creates a sandbox, runs Python that plots, and receives the image": the
 * MCP SDK's client drives `airlock mcp` over stdio; the sandbox runs the code-interpreter image
 * (matplotlib), built here as the interpreter's own e2e suite builds it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Airlock } from '@airlock/sdk';
import { TEST_KEY, newDataDir, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';
import { buildBuiltin } from '../builtin-images.js';
import { CLI } from './run-cli.js';

const noMmdebstrap =
  spawnSync('mmdebstrap', ['--version']).status === 0 ? false : 'mmdebstrap is not installed: the code-interpreter image cannot be built here';

const PLOT = `
import matplotlib.pyplot as plt
xs = [x / 10 for x in range(63)]
import math
plt.plot(xs, [math.sin(x) for x in xs])
plt.title("sine")
plt.show()
"plotted"
`;

describe('MCP: Python that plots, the image received', { timeout: 20 * 60_000, skip: noMmdebstrap }, () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer(newDataDir('mcp-plot'));
    // The base's import is retried: on this host it sometimes ends in ECONNRESET (the interpreter's
    // own e2e suite meets the same, with observation on or off); reported, not fixed here.
    for (let attempt = 1; ; attempt++) {
      try {
        await buildBuiltin(new Airlock({ url: t.server.url, apiKey: TEST_KEY }), 'code-interpreter', { runtime: 'runc' });
        break;
      } catch (e) {
        if (attempt >= 4 || !/ECONNRESET/.test(String(e))) throw e;
        process.stderr.write(`mcp-plot: building the code-interpreter image failed (${String(e).slice(0, 160)}); again\n`);
      }
    }
  });
  after(async () => {
    await t?.close();
  });

  test('create_sandbox with the code-interpreter image, run_code with matplotlib, a PNG comes back', { timeout: 5 * 60_000 }, async () => {
    const env = { PATH: process.env.PATH ?? '', AIRLOCK_URL: t.server.url, AIRLOCK_API_KEY: TEST_KEY, HOME: '/nonexistent' };
    const client = new Client({ name: 'airlock-plot-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], env, stderr: 'pipe' }));
    try {
      const created = (await client.callTool({
        name: 'create_sandbox',
        arguments: { runtime: 'runc', image: 'airlock/code-interpreter:1', memoryMiB: 1024 },
      })) as CallToolResult;
      assert.notEqual(created.isError, true, JSON.stringify(created.content));
      const id = (created.structuredContent as { id: string }).id;
      recordSandbox(id);
      const r = (await client.callTool({ name: 'run_code', arguments: { sandboxId: id, language: 'python', code: PLOT } })) as CallToolResult;
      assert.notEqual(r.isError, true, JSON.stringify(r.content).slice(0, 2000));
      const text = r.content
        .filter((c) => c.type === 'text')
        .map((c) => (c as { text: string }).text)
        .join('\n');
      assert.match(text, /plotted/, "the last expression is the cell's value (the interpreter ran it)");
      const image = r.content.find((c) => c.type === 'image') as { data: string; mimeType: string } | undefined;
      assert.ok(image, 'the figure comes back as MCP image content');
      assert.equal(image.mimeType, 'image/png');
      const png = Buffer.from(image.data, 'base64');
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.ok(png.readUInt32BE(16) >= 300 && png.readUInt32BE(20) >= 200, `a real figure: ${png.readUInt32BE(16)}×${png.readUInt32BE(20)}`);
      // State persists between calls: the interpreter's context, not a fresh process.
      await client.callTool({ name: 'run_code', arguments: { sandboxId: id, code: 'kept = 41' } });
      const again = (await client.callTool({ name: 'run_code', arguments: { sandboxId: id, code: 'kept + 1' } })) as CallToolResult;
      assert.match((again.content[0] as { text: string }).text, /42/);
    } finally {
      await client.close();
    }
  });
});
