import { applyLayer } from './dist/images/layer-apply.js';
import { extract } from 'tar-stream';
import { createReadStream, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
const tar = '/var/cache/airlock-test/python-bookworm-minbase-v1.tar';
let t = performance.now(); let n=0;
const ex = extract(); createReadStream(tar).pipe(ex);
for await (const e of ex) { n++; for await (const _ of e) {} }
console.log('parse only', (performance.now()-t).toFixed(0), 'ms', n, 'entries');
for (let i=0;i<2;i++){
rmSync('/tmp/prof2', {recursive:true, force:true}); mkdirSync('/tmp/prof2');
t = performance.now();
const r = await applyLayer(createReadStream(tar), '/tmp/prof2');
console.log('apply', (performance.now()-t).toFixed(0), 'ms', r.entries, r.bytes);
}
rmSync('/tmp/prof2', {recursive:true, force:true}); mkdirSync('/tmp/prof2');
t = performance.now();
const { spawnSync } = await import('node:child_process');
spawnSync('tar', ['-xf', tar, '-C', '/tmp/prof2']);
console.log('gnu tar', (performance.now()-t).toFixed(0), 'ms');
rmSync('/tmp/prof2', {recursive:true, force:true});
