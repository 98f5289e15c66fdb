// Builds the dashboard into dist/ui: one ES module bundle (Preact, xterm.js and our code), its CSS,
// and index.html. Everything is served by the Airlock server at /ui; nothing is fetched from a CDN.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist', 'ui');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'main.tsx')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  // xterm.js is installed as xterm-browser (see src/terminal.tsx).
  alias: { '@xterm/xterm': 'xterm-browser' },
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
  legalComments: 'linked',
});
const require = createRequire(import.meta.url);
copyFileSync(require.resolve('xterm-browser/css/xterm.css'), join(out, 'xterm.css'));
copyFileSync(join(here, 'app.css'), join(out, 'app.css'));
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
