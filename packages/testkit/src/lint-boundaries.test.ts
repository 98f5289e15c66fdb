/**
 * The architecture's import boundaries (eslint.config.js) catch what they claim: each case is a
 * file that breaks one, linted where it would live; the control is the same import where it belongs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function violations(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${path}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

test('spawning, HTTP serving and reaching up a layer are refused outside their place, and allowed in it', { timeout: 60_000 }, async () => {
  const spawn = "import { spawn } from 'node:child_process';\nexport const s = spawn;\n";
  assert.equal((await violations('packages/server/src/sandbox/x.ts', spawn)).length, 1, 'spawn in sandbox/');
  assert.deepEqual(await violations('packages/server/src/host/x.ts', spawn), [], 'spawn in host/ is its place');
  const hono = "import { Hono } from 'hono';\nexport const h = Hono;\n";
  assert.equal((await violations('packages/server/src/runtimes/x.ts', hono)).length, 1, 'hono in runtimes/');
  assert.deepEqual(await violations('packages/server/src/api/x.ts', hono), [], 'hono in api/');
  const up = "import { Creator } from '../sandbox/create.js';\nexport const c = Creator;\n";
  assert.equal((await violations('packages/server/src/host/x.ts', up)).length, 1, 'host/ reaching into sandbox/');
  assert.deepEqual(
    await violations('packages/server/src/host/x.ts', "import type { Creator } from '../sandbox/create.js';\nexport type C = Creator;\n"),
    [],
    'a type import is a contract',
  );
  const server = "import { startServer } from '@airlock/server';\nexport const s = startServer;\n";
  assert.equal((await violations('packages/cli/src/commands/x.ts', server)).length, 1, 'the CLI loading the server');
});

test('the server ships without its test support, which reaches the server only through its exports', { timeout: 60_000 }, async () => {
  const kit = "import { startTestServer } from '@airlock/testkit';\nexport const s = startTestServer;\n";
  assert.equal((await violations('packages/server/src/sandbox/x.ts', kit)).length, 1, 'server code loading the testkit');
  assert.deepEqual(await violations('packages/server/src/sandbox/x.test.ts', kit), [], 'a server test uses the testkit');
  assert.equal((await violations('packages/cli/src/commands/x.ts', kit)).length, 1, 'the CLI loading the testkit');
  const reach = "import { runCommand } from '../../server/src/host/command.js';\nexport const r = runCommand;\n";
  assert.equal((await violations('packages/testkit/src/x.ts', reach)).length, 1, 'the testkit reaching into server files');
  assert.equal((await violations('packages/security/src/x.ts', reach)).length, 1, 'the security suite reaching into server files');
  const exported = "import { runCommand } from '@airlock/server/internal/host/command.js';\nexport const r = runCommand;\n";
  assert.deepEqual(await violations('packages/testkit/src/x.ts', exported), [], 'an internal export is the way in');
});
