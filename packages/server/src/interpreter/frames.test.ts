import assert from 'node:assert/strict';
import { test } from 'node:test';
import { depthWithin, FrameSplitter, type SplitItem } from './frames.js';

const NONCE = '0123456789abcdef0123456789abcdef';
const line = (seq: number, more: 0 | 1, payload: string, nonce = NONCE) => `\x1e${nonce} ${seq} ${more} ${payload}\n`;
const end = (cell = 'c1') => JSON.stringify({ type: 'end', cell, executionCount: 1 });
const stdoutOf = (items: SplitItem[]) => Buffer.concat(items.flatMap((i) => (i.kind === 'stdout' ? [i.data] : []))).toString('latin1');
const frames = (items: SplitItem[]) => items.flatMap((i) => (i.kind === 'frame' ? [i.frame] : []));

function feed(s: FrameSplitter, text: string, chunk = Infinity): SplitItem[] {
  const out: SplitItem[] = [];
  const b = Buffer.from(text, 'latin1');
  for (let i = 0; i < b.length; i += chunk) out.push(...s.push(b.subarray(i, Math.min(b.length, i + chunk))));
  return out;
}

test('frames and stdout are told apart, whatever the chunking', { timeout: 10_000 }, () => {
  const text = `hello ${line(1, 0, end())}partial\x1e no frame\n${line(2, 1, end().slice(0, 10))}${line(2, 0, end().slice(10))}tail`;
  for (const chunk of [1, 2, 3, 7, 64, Infinity]) {
    const s = new FrameSplitter(NONCE, 1 << 20);
    const items = feed(s, text, chunk);
    assert.equal(stdoutOf(items) + s.flush().toString('latin1'), 'hello partial\x1e no frame\ntail', `chunk ${chunk}`);
    assert.equal(frames(items).length, 2, `chunk ${chunk}`);
    assert.equal(s.broken, false);
  }
});

test('a line with another nonce is stdout, byte for byte (positive control: the right nonce is a frame)', { timeout: 10_000 }, () => {
  const s = new FrameSplitter(NONCE, 1 << 20);
  const forged = line(1, 0, end(), 'ffffffffffffffffffffffffffffffff');
  const items = feed(s, forged + line(1, 0, end()));
  assert.equal(stdoutOf(items), forged);
  assert.deepEqual(frames(items), [{ type: 'end', cell: 'c1', executionCount: 1 }]);
});

test('out of order, malformed, not JSON, invalid or too deep: broken, once, and nothing after', { timeout: 10_000 }, () => {
  const cases = [
    line(2, 0, end()),
    `\x1e${NONCE} x 0 {}\n`,
    line(1, 0, '{not json'),
    line(1, 0, '{"type":"end"}'),
    line(1, 0, '['.repeat(100) + ']'.repeat(100)),
    `\x1e${NONCE} 1 0 ${'a'.repeat(10000)}`,
  ];
  for (const c of cases) {
    const s = new FrameSplitter(NONCE, 1 << 20);
    const items = feed(s, c);
    assert.equal(items.filter((i) => i.kind === 'broken').length, 1, JSON.stringify(c.slice(0, 60)));
    assert.deepEqual(s.push(Buffer.from(line(1, 0, end()))), [], 'nothing is taken after a break');
  }
  // A piece of another frame in the middle of one.
  const s = new FrameSplitter(NONCE, 1 << 20);
  assert.ok(feed(s, line(1, 1, '{"type"') + line(2, 0, ':"end"}')).some((i) => i.kind === 'broken'));
});

test('a frame over the size limit is dropped whole and counted; the next one comes through', { timeout: 10_000 }, () => {
  const s = new FrameSplitter(NONCE, 100);
  const big = JSON.stringify({ type: 'result', cell: 'c', isMainResult: true, text: 'x'.repeat(500) });
  let text = '';
  for (let i = 0; i < big.length; i += 50) text += line(1, i + 50 < big.length ? 1 : 0, big.slice(i, i + 50));
  const items = feed(s, text + line(2, 0, end()));
  assert.deepEqual(
    items.map((i) => i.kind),
    ['oversize', 'frame'],
  );
});

test('depthWithin is iterative and bounded', { timeout: 10_000 }, () => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(depthWithin(deep, 64), false);
  assert.equal(depthWithin({ a: [{ b: 1 }] }, 64), true);
});
