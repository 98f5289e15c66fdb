/**
 * @module drain
 * Reading the rest of a request body the server refused (413, 415, 401…), when it is small: many
 * clients (undici's fetch among them) only read the answer once they sent the whole body, and see a
 * reset instead of the error if the server stops reading early. A large remainder is never read —
 * the answer goes out and the connection closes — so a refusal never costs more than `cap` bytes.
 */
import type { Context } from 'hono';

const DRAIN_CAP = 16 * 1024 * 1024;
const DRAIN_MS = 2000;

export async function drainRefusedBody(c: Context, cap = DRAIN_CAP): Promise<void> {
  const req = c.req.raw;
  if (req.method === 'GET' || req.method === 'HEAD') return;
  const declared = Number(req.headers.get('content-length') ?? 'NaN');
  if (Number.isFinite(declared) && declared > cap) {
    c.header('connection', 'close');
    return;
  }
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    if (!req.body || req.bodyUsed) return;
    reader = req.body.getReader();
  } catch {
    return; // already being read (a body limit's reader): nothing to do
  }
  const deadline = Date.now() + DRAIN_MS;
  let read = 0;
  try {
    while (read <= cap && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(1, deadline - Date.now())))]);
      if (next === undefined || next.done) break;
      read += next.value.length;
    }
  } catch {
    // the client went away
  } finally {
    if (read > cap || Date.now() >= deadline) c.header('connection', 'close');
    reader.cancel().catch(() => {});
  }
}
