// Lint for the whole repository: typescript-eslint's recommended rules, and the architecture's
// boundaries as import rules (docs/architecture.md, "Boundaries"). Type-only imports may cross a
// boundary: a type describes a contract, it runs nothing.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restricted = (patterns, message) => ({ group: patterns, message, allowTypeImports: true });

const SPAWN = restricted(['node:child_process', 'child_process'], 'Processes are spawned only in host/ (packages/server/src/host): call a host/ function.');
const HTTP_FRAMEWORK = restricted(['hono', 'hono/*', '@hono/*', 'ws'], 'HTTP and WebSocket serving lives in api/.');
const API = restricted(['**/api/*', '**/api/**'], 'Nothing below the API imports from api/: wire mapping happens at the edge.');
const LIFECYCLE = restricted(['**/sandbox/*', '**/processes/*', '**/interpreter/*'], 'Lower layers do not reach up into the lifecycle services.');
const DOMAINS = restricted(
  ['**/images/*', '**/network/*', '**/runtimes/*', '**/agent-channel/*'],
  'host/ and store/ are the bottom layer: they import no domain.',
);

// The server ships without its test support: only its own tests (notTests below) use the testkit.
const TEST_SUPPORT = restricted(
  ['@airlock/testkit', '@airlock/testkit/*', '@airlock/security', '@airlock/security/*'],
  'The server never loads the testkit or the security suite (its tests may use the testkit).',
);

const server = 'packages/server/src';
const boundary = (files, ...rules) => ({ files, rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: rules }] } });
const notTests = ['**/*.test.ts'];
// The test support and the security suite are their own packages (packages/testkit, packages/security).
const testSupport = ['packages/testkit/src/**', 'packages/security/src/**'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/agent/native/**', 'bench/results/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
        WebSocket: 'readonly',
        Response: 'readonly',
        Request: 'readonly',
        Headers: 'readonly',
        ReadableStream: 'readonly',
        Blob: 'readonly',
        FormData: 'readonly',
        globalThis: 'readonly',
      },
    },
    rules: {
      // Unused names are an error, except the deliberate `_`-prefixed ones (callbacks' positional args).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // One no-restricted-imports setting per file (a later block would replace an earlier one's): TEST_SUPPORT joins each.
  // The server's layers, top to bottom: api → processes/interpreter → sandbox → images, network, runtimes → agent-channel → host, store.
  {
    ...boundary([`${server}/**/*.ts`], SPAWN, HTTP_FRAMEWORK, API, TEST_SUPPORT),
    ignores: [`${server}/host/**`, `${server}/api/**`, `${server}/server.ts`, ...notTests],
  },
  { ...boundary([`${server}/host/**/*.ts`], HTTP_FRAMEWORK, API, LIFECYCLE, DOMAINS, TEST_SUPPORT), ignores: notTests },
  { ...boundary([`${server}/store/**/*.ts`], SPAWN, HTTP_FRAMEWORK, API, LIFECYCLE, DOMAINS, TEST_SUPPORT), ignores: notTests },
  { ...boundary([`${server}/{images,network,runtimes,agent-channel}/**/*.ts`], SPAWN, HTTP_FRAMEWORK, API, LIFECYCLE, TEST_SUPPORT), ignores: notTests },
  { ...boundary([`${server}/api/**/*.ts`], SPAWN, TEST_SUPPORT), ignores: notTests },
  // The testkit and the security suite reach the server through its package exports (".", "./internal/*"), never its files.
  boundary(
    testSupport,
    restricted(
      ['**/server/src/**', '**/server/dist/**', '@airlock/server/dist/**'],
      'Import the server through @airlock/server or a narrow @airlock/server/internal/... export (packages/server/package.json).',
    ),
  ),
  // Clients never load the server: the CLI starts fast and the SDK runs in a browser.
  boundary(
    ['packages/{sdk,cli,protocol}/src/**/*.ts'],
    restricted(
      ['@airlock/server', '@airlock/server/*', '@airlock/testkit', '@airlock/testkit/*'],
      'The SDK, CLI and protocol never load the server or its testkit (tests may).',
    ),
  ),
  // The interpreter's JavaScript driver runs inside the sandbox as CommonJS, handed BOOT by its bootstrap.
  {
    files: ['packages/server/drivers/**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', BOOT: 'readonly', SharedArrayBuffer: 'readonly', Atomics: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Tests read JSON answers of the API they probe, whatever shape a bug gives them: `any` is the honest type there.
  { files: ['**/*.test.ts', '**/*.test.mjs', ...testSupport], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  {
    files: ['packages/{sdk,cli}/src/**/*.test.ts', 'packages/cli/src/e2e/**', 'packages/cli/src/commands/serve.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
);
