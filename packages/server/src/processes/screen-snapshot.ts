/**
 * @module screen-snapshot
 * A terminal's screen for a client that attaches late: the journal replayed into a headless xterm
 * (@xterm/headless) of the process's size and serialized (@xterm/addon-serialize) as the escape
 * sequences that redraw it, so a reattaching terminal starts from a consistent screen instead of raw
 * bytes that may begin in the middle of an escape sequence. Built on demand and thrown away (no
 * standing cost per process); bounded by the journal's size.
 */
import { SerializeAddon } from '@xterm/addon-serialize';
import xterm from '@xterm/headless';
import type { ProcessEntry } from './process-entry.js';

const SCROLLBACK = 1000;

export async function screenSnapshot(entry: ProcessEntry): Promise<{ data: Buffer; offset: number }> {
  const upTo = entry.journal.head;
  const term = new xterm.Terminal({ cols: entry.facts.cols || 80, rows: entry.facts.rows || 24, scrollback: SCROLLBACK, allowProposedApi: true });
  const serialize = new SerializeAddon();
  term.loadAddon(serialize as never);
  const reader = entry.reader(entry.journal.oldest, { onGap: 'skip', pace: false });
  try {
    while (reader.cursor < upTo) {
      const items = await reader.next();
      if (items === 'end') break;
      for (const it of items) {
        if (it.type !== 'data') continue;
        const data = it.offset + it.data.length > upTo ? it.data.subarray(0, upTo - it.offset) : it.data;
        await new Promise<void>((r) => term.write(data, r));
      }
    }
    return { data: Buffer.from(serialize.serialize({ scrollback: SCROLLBACK }), 'utf8'), offset: Math.min(reader.cursor, upTo) };
  } finally {
    reader.close();
    term.dispose();
  }
}
