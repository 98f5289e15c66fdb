/**
 * @module digest-meter
 * A pass-through stream that hashes (sha256) and counts what flows through it: the DiffID of a layer
 * being written, the digest of a blob whose digest is not known before it is stored.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class DigestMeter extends Transform {
  readonly #hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  /** `sha256:<hex>` of everything that passed; call once, after the end. */
  digest(): string {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}
