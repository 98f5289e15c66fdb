/**
 * @module ndjson
 * A streamed NDJSON response whose producer waits for its consumer: `send` resolves once the line
 * is taken or buffered (a few lines at most), so a slow client slows the producer instead of
 * filling memory. A client that goes away aborts `signal`.
 */
export function ndjsonResponse<T>(produce: (send: (event: T) => Promise<void>, signal: AbortSignal) => Promise<void>): Response {
  const encoder = new TextEncoder();
  const abort = new AbortController();
  let wake: (() => void) | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const send = async (event: T) => {
          if (abort.signal.aborted) return;
          try {
            controller.enqueue(encoder.encode(`${JSON.stringify(event)}\n`));
          } catch {
            return; // closed
          }
          while ((controller.desiredSize ?? 1) <= 0 && !abort.signal.aborted) await new Promise<void>((r) => (wake = r));
        };
        produce(send, abort.signal).finally(() => {
          try {
            controller.close();
          } catch {
            // cancelled
          }
        });
      },
      pull() {
        wake?.();
        wake = undefined;
      },
      cancel() {
        abort.abort();
        wake?.();
        wake = undefined;
      },
    },
    { highWaterMark: 16 },
  );
  return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } });
}
