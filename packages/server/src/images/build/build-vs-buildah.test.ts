/**
 * The same Dockerfile built by buildah (Debian's package, chroot isolation, no network) and by
 * Airlock gives the same file tree: every path, its type, mode, owner, content hash and link
 * target. The Dockerfile touches what builders disagree on most: deletions of base files, a
 * replaced directory, hard links, symlinks, setuid and other modes, --chown and --chmod, a
 * WORKDIR that must be made, ADD of an archive, a multi-stage COPY --from.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileTree, treeDifferences } from '@airlock/testkit/file-tree.js';
import { buildahAvailable, startBuildah, type Buildah } from '@airlock/testkit/buildah.js';
import { build, startBaseRegistry, type BaseRegistry } from '@airlock/testkit/build-fixtures.js';
import { newDataDir, startTestServer, testRoot, type TestServer } from '@airlock/testkit/harness.js';
import { tarOf } from '@airlock/testkit/image-fixtures.js';
import { DEFAULT_PROJECT } from '../../store/store.js';

/**
 * Left out of the comparison, each for a reason that is not the Dockerfile's: buildah's mount
 * points for what it bind-mounts into a RUN (empty afterwards), and the device nodes of the base
 * image's /dev, which Airlock's layer applier does not create (the runtime gives every sandbox its
 * own /dev; docs/images.md). mtimes are not compared: each builder has its own time rule.
 */
const BUILDER_ARTIFACTS = new Set(['etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'run/.containerenv']);
const skip = (p: string) => BUILDER_ARTIFACTS.has(p) || p.startsWith('dev/');

export const COMPARED_DOCKERFILE = (base: string) => `FROM ${base} AS build
RUN mkdir -p /out/bin && printf '#!/bin/sh\\necho tool\\n' > /out/bin/tool && chmod 0750 /out/bin/tool

FROM ${base}
RUN useradd --uid 1500 --create-home builder \\
 && rm -rf /usr/share/doc /etc/issue.net \\
 && rm -rf /var/log && mkdir -m 0711 /var/log && echo new > /var/log/fresh \\
 && echo shared > /opt/one && ln /opt/one /opt/two && ln -s ../opt/one /srv-link \\
 && cp /bin/true /usr/local/bin/suid && chmod 4755 /usr/local/bin/suid \\
 && chmod 1777 /tmp && echo > /etc/motd
COPY --chown=builder:builder app/ /home/builder/app/
COPY --chmod=0600 secret.conf /etc/secret.conf
ADD bundle.tar /opt/bundle/
COPY --from=build /out/ /usr/local/
WORKDIR /srv/data/deep
RUN touch made-in-workdir
`;

let env: BaseRegistry;
let srv: TestServer;
let buildah: Buildah | undefined;
let ctx: string;

before(async () => {
  env = await startBaseRegistry();
  srv = await startTestServer(newDataDir('vs-buildah'));
  ctx = mkdtempSync(join(testRoot(), 'vs-ctx-'));
  mkdirSync(join(ctx, 'app/sub'), { recursive: true });
  writeFileSync(join(ctx, 'app/main.py'), 'print("main")\n', { mode: 0o644 });
  writeFileSync(join(ctx, 'app/sub/run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(ctx, 'secret.conf'), 'token=1\n');
  writeFileSync(
    join(ctx, 'bundle.tar'),
    await tarOf([
      { name: 'lib/', type: 'directory' },
      { name: 'lib/data.txt', body: 'data', mode: 0o640, uid: 7, gid: 8 },
    ]),
  );
  writeFileSync(join(ctx, 'Dockerfile'), COMPARED_DOCKERFILE(env.base));
});

after(async () => {
  buildah?.remove();
  await srv?.close();
  await env?.registry.stop();
});

describe('Airlock and buildah build the same files', { timeout: 900_000 }, () => {
  test('same paths, types, modes, owners, content hashes and link targets', { skip: !buildahAvailable() && 'buildah is not installed' }, async () => {
    const { readdirSync, readFileSync, statSync } = await import('node:fs');
    const entries: import('@airlock/testkit/image-fixtures.js').TarEntry[] = [];
    const walk = (rel: string) => {
      for (const name of readdirSync(join(ctx, rel)).sort()) {
        const p = rel ? `${rel}/${name}` : name;
        const st = statSync(join(ctx, p));
        if (st.isDirectory()) {
          entries.push({ name: `${p}/`, type: 'directory' as const, mode: st.mode & 0o7777 });
          walk(p);
        } else entries.push({ name: p, body: readFileSync(join(ctx, p)), mode: st.mode & 0o7777 });
      }
    };
    walk('');
    const ours = await build(srv, await tarOf(entries), { tag: 'compare/airlock:1' });
    assert.equal(ours.error, undefined, JSON.stringify(ours.error));
    const top = (await srv.server.images.inspect(DEFAULT_PROJECT, ours.image.id)).layers.at(-1)!.chainId;
    const airlockRoot = join(srv.server.config.dataDir, 'images', 'store', 'fs', 'layers', top.slice(7));

    buildah = startBuildah(mkdtempSync(join(testRoot(), 'buildah-')), env.registry.host);
    buildah.bud(ctx, join(ctx, 'Dockerfile'), 'compare/buildah:1');
    const theirs = buildah.mount('compare/buildah:1');

    const differences = treeDifferences(fileTree(airlockRoot, { skip }), fileTree(theirs, { skip }));
    assert.deepEqual(differences, [], 'first: Airlock, second: buildah');
    // Positive control: the comparison sees a difference when there is one.
    const a = fileTree(airlockRoot, { skip });
    a.delete('opt/two');
    assert.deepEqual(treeDifferences(a, fileTree(theirs, { skip })), ['only in the second: opt/two']);
  });
});
