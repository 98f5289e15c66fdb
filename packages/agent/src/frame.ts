/**
 * @module frame
 * Framing of the host ↔ agent channel (see ../PROTOCOL.md). The decoder treats its input as hostile:
 * a length out of bounds is a protocol violation, and it never holds more than one frame's worth of
 * bytes beyond what the caller has not consumed.
 */

export const HEADER_BYTES = 9;
export const MAX_PAYLOAD = 1024 * 1024;

export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

export function encodeFrame(type: number, channel: number, payload: Uint8Array = EMPTY): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new ProtocolError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(5 + payload.length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32BE(channel >>> 0, 5);
  out.set(payload, HEADER_BYTES);
  return out;
}

const EMPTY = Buffer.alloc(0);

/** Splits a byte stream into frames. Feed chunks with push(); it yields whole frames only. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#buffered < 4) break;
      const head = this.#peek(4);
      const length = head.readUInt32BE(0);
      if (length < 5 || length > 5 + MAX_PAYLOAD) throw new ProtocolError(`frame length ${length} out of bounds`);
      if (this.#buffered < 4 + length) break;
      const bytes = this.#take(4 + length);
      frames.push({ type: bytes.readUInt8(4), channel: bytes.readUInt32BE(5), payload: bytes.subarray(HEADER_BYTES) });
    }
    return frames;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const joined = this.#peek(n);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered -= n;
    return out;
  }
}
