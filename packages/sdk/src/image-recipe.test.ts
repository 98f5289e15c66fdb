import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { extract } from 'tar-stream';
import { INLINE_DOCKERFILE, packContext } from './build-context.js';
import { Image } from './image-recipe.js';

async function names(tar: Uint8Array): Promise<string[]> {
  const x = extract();
  const out: string[] = [];
  x.end(Buffer.from(tar));
  for await (const e of x) {
    out.push(`${e.header.name}${e.header.type === 'symlink' ? ` -> ${e.header.linkname}` : ''}`);
    e.resume();
  }
  return out;
}

describe('Image recipe and context packing', { timeout: 10_000 }, () => {
  it('renders a Dockerfile with every value quoted', () => {
    const df = Image.from('debian:12', { as: 'base' })
      .aptInstall(['python3', "it's"])
      .run(['echo', 'a b'])
      .run('one\ntwo')
      .copy(['a file', 'b'], '/dst/', { chown: 'app:app' })
      .env({ A: 'x "y" $z' })
      .workdir('/app')
      .user('app')
      .expose(8080)
      .cmd(['python3'])
      .toDockerfile();
    assert.equal(
      df,
      [
        'FROM debian:12 AS base',
        `RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 'it'\\''s' && rm -rf /var/lib/apt/lists/*`,
        'RUN ["echo","a b"]',
        "RUN <<'AIRLOCK_SCRIPT'",
        'one',
        'two',
        'AIRLOCK_SCRIPT',
        'COPY --chown=app:app ["a file","b","/dst/"]',
        'ENV A="x \\"y\\" \\$z"',
        'WORKDIR "/app"',
        'USER "app"',
        'EXPOSE 8080',
        'CMD ["python3"]',
        '',
      ].join('\n'),
    );
    assert.throws(() => Image.from('x').env({ 'bad name': 'v' }), /not a variable name/);
  });

  it('packs a context with .dockerignore applied, symlinks kept, an inline Dockerfile under .airlock-build/', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-ctx-'));
    try {
      mkdirSync(join(dir, 'node_modules/x'), { recursive: true });
      writeFileSync(join(dir, 'node_modules/x/big'), 'ignored');
      writeFileSync(join(dir, '.dockerignore'), 'node_modules\n*.log\n');
      writeFileSync(join(dir, 'app.py'), 'print(1)');
      writeFileSync(join(dir, 'debug.log'), 'x');
      symlinkSync('/etc/passwd', join(dir, 'link'));
      const packed = await packContext(dir, { dockerfile: 'FROM scratch\n' });
      assert.equal(packed.dockerfile, INLINE_DOCKERFILE);
      assert.deepEqual(await names(packed.tar), ['.dockerignore', 'app.py', 'link -> /etc/passwd', '.airlock-build', '.airlock-build/Dockerfile']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
