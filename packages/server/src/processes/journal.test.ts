import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ProcessJournal } from './journal.js';
import { JournalReader } from './journal-reader.js';

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'airlock-journal-'));
  dirs.push(d);
  return join(d, 'proc-1');
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function settle(j: ProcessJournal): Promise<void> {
  while (j.written < j.head) await j.changed();
}

async function readAll(j: ProcessJournal, from: number, onGap: 'error' | 'skip' = 'skip'): Promise<{ text: string; gaps: unknown[]; streams: string }> {
  const r = new JournalReader(j, from, { onGap, pace: false }, () => {});
  let text = '';
  let streams = '';
  const gaps: unknown[] = [];
  while (r.cursor < j.head) {
    const items = await r.next();
    if (items === 'end') break;
    for (const it of items) {
      if (it.type === 'gap') gaps.push(it);
      else {
        text += it.data.toString();
        streams += String(it.stream).repeat(it.data.length);
      }
    }
  }
  r.close();
  return { text, gaps, streams };
}

describe('process journal (pure logic, real files)', { timeout: 30_000 }, () => {
  test('keeps both streams in arrival order at output offsets, from memory and from disk alike', async () => {
    const j = ProcessJournal.open(dir(), { maxBytes: 1 << 20, hotBytes: 8 });
    j.append(0, 0, Buffer.from('out-a '));
    j.append(1, 0, Buffer.from('err-b '));
    j.append(0, 6, Buffer.from('out-c'));
    await settle(j);
    assert.deepEqual([j.head, j.streamWritten], [17, [11, 6]]);
    const all = await readAll(j, 0); // most of it is on disk only: hotBytes is 8
    assert.equal(all.text, 'out-a err-b out-c');
    assert.equal(all.streams, '00000011111100000');
    assert.equal((await readAll(j, 8)).text, 'r-b out-c');
    assert.deepEqual(j.streamOffsetsAt(17), [11, 6]);
    await j.close();
  });

  test('drops what an agent sends again, skips what it no longer has', async () => {
    const j = ProcessJournal.open(dir(), { maxBytes: 1 << 20, hotBytes: 1024 });
    j.append(0, 0, Buffer.from('abcdef'));
    j.append(0, 3, Buffer.from('defghi')); // resent after a reconnect: only "ghi" is new
    j.append(0, 20, Buffer.from('xyz')); // the agent had freed 9..20: a gap in the stream, not in the journal
    await settle(j);
    assert.equal((await readAll(j, 0)).text, 'abcdefghixyz');
    assert.deepEqual(j.streamHead, [23, 0]);
    await j.close();
  });

  test('is bounded: the oldest segments go, and a reader below the oldest byte gets a gap or an error', async () => {
    const d = dir();
    const j = ProcessJournal.open(d, { maxBytes: 64 * 1024, hotBytes: 1024 });
    for (let i = 0; i < 40; i++) j.append(0, i * 4096, Buffer.alloc(4096, 97 + (i % 26)));
    await settle(j);
    assert.ok(j.oldest > 0, 'old output was dropped');
    const onDisk = readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0);
    assert.ok(onDisk <= 64 * 1024 + 16 * 1024 + 4096, `${onDisk} bytes on disk`);
    const skipped = await readAll(j, 0, 'skip');
    assert.deepEqual(skipped.gaps, [{ type: 'gap', from: 0, to: j.oldest }]);
    assert.equal(skipped.text.length, j.head - j.oldest);
    assert.throws(
      () => new JournalReader(j, 0, { onGap: 'error', pace: false }, () => {}),
      (e: any) => e.code === 'offset_gone',
    );
    assert.throws(
      () => new JournalReader(j, j.head + 1, { onGap: 'skip', pace: false }, () => {}),
      (e: any) => e.code === 'invalid_request',
    );
    await j.close();
  });

  test('a new server picks up where the old one wrote, and a record cut by a crash is dropped', async () => {
    const d = dir();
    const j = ProcessJournal.open(d, { maxBytes: 1 << 20, hotBytes: 1024 });
    j.append(0, 0, Buffer.from('hello '));
    j.append(1, 0, Buffer.from('oops '));
    j.append(0, 6, Buffer.from('world'));
    await settle(j);
    await j.close();
    const seg = join(d, readdirSync(d)[0]!);
    truncateSync(seg, statSync(seg).size - 2); // the last record, cut
    const again = ProcessJournal.open(d, { maxBytes: 1 << 20, hotBytes: 1024 });
    assert.deepEqual([again.head, again.streamWritten], [11, [6, 5]], 'only whole records count');
    again.append(0, 6, Buffer.from('world!')); // the agent sends the unacknowledged rest again
    await settle(again);
    assert.equal((await readAll(again, 0)).text, 'hello oops world!');
    await again.close();
  });

  test('a reader waits at the head and ends once the process ended', async () => {
    const j = ProcessJournal.open(dir(), { maxBytes: 1 << 20, hotBytes: 1024 });
    const r = new JournalReader(j, 0, { onGap: 'error', pace: true }, () => {});
    const pending = r.next();
    j.append(0, 0, Buffer.from('late'));
    const items = await pending;
    assert.ok(items !== 'end' && items[0]!.type === 'data');
    assert.deepEqual(r.consumed, [4, 0], 'a pacing reader reports what it took');
    const end = r.next();
    j.end();
    assert.equal(await end, 'end');
    await j.close();
  });
});
