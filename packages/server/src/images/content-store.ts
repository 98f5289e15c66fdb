/**
 * @module content-store
 * Blobs (manifests, configs, compressed layers) stored once by digest under
 * `blobs/sha256/<hex>`. A blob is written to `ingest/` while its sha256 is computed and becomes
 * visible only by an atomic rename once size and digest match, so a truncated or corrupt download
 * never lands under a digest name, and nothing of it is left behind. Concurrent writers of the same
 * digest share one write.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { DIGEST } from './reference.js';

export class DigestMismatchError extends Error {
  override readonly name = 'DigestMismatchError';
}

export class BlobTooLargeError extends Error {
  override readonly name = 'BlobTooLargeError';
}

export class ContentStore {
  readonly #blobs: string;
  readonly #ingest: string;
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.#blobs = join(dir, 'blobs', 'sha256');
    this.#ingest = join(dir, 'ingest');
    mkdirSync(this.#blobs, { recursive: true, mode: 0o700 });
    // What a crash left half-written is worthless: it was never verified.
    rmSync(this.#ingest, { recursive: true, force: true });
    mkdirSync(this.#ingest, { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    if (!DIGEST.test(digest)) throw new DigestMismatchError(`${JSON.stringify(digest)} is not a sha256 digest`);
    return join(this.#blobs, digest.slice('sha256:'.length));
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  /** True while some call is writing `digest`. */
  busy(digest: string): boolean {
    return this.#inflight.has(digest);
  }

  size(digest: string): number {
    return statSync(this.path(digest)).size;
  }

  read(digest: string): Buffer {
    return readFileSync(this.path(digest));
  }

  /**
   * Stores what `open()` streams under `digest`, verifying size (when known) and digest on the way.
   * `onBytes` reports progress. If another call is already writing the same digest, waits for it.
   */
  async ingest(digest: string, expectedSize: number | undefined, open: () => Promise<Readable>, onBytes?: (n: number) => void): Promise<void> {
    const target = this.path(digest);
    if (existsSync(target)) return;
    const running = this.#inflight.get(digest);
    if (running) return running;
    const work = this.#write(digest, target, expectedSize, open, onBytes).finally(() => this.#inflight.delete(digest));
    this.#inflight.set(digest, work);
    return work;
  }

  /** Stores bytes already in memory (manifests, configs), verifying their digest. */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) throw new DigestMismatchError(`content has digest ${actual}, expected ${digest}`);
    await this.ingest(digest, bytes.length, async () => Readable.from([bytes]));
  }

  /**
   * Stores a stream whose digest is not known in advance (a `docker save` layer named by path): it is
   * hashed while written to ingest/ and lands under its digest. Returns what it computed.
   */
  async ingestUnnamed(stream: Readable, maxBytes: number, onBytes?: (n: number) => void): Promise<{ digest: string; size: number }> {
    const tmp = join(this.#ingest, `unnamed.${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new BlobTooLargeError(`a blob exceeds ${maxBytes} bytes`));
        hash.update(chunk);
        onBytes?.(chunk.length);
        done(null, chunk);
      },
    });
    try {
      await pipeline(stream, meter, createWriteStream(tmp, { mode: 0o600 }));
      const digest = `sha256:${hash.digest('hex')}`;
      if (existsSync(this.path(digest))) rmSync(tmp, { force: true });
      else renameSync(tmp, this.path(digest));
      return { digest, size };
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  /** Every stored digest. */
  list(): string[] {
    return readdirSync(this.#blobs).map((hex) => `sha256:${hex}`);
  }

  async #write(digest: string, target: string, expectedSize: number | undefined, open: () => Promise<Readable>, onBytes?: (n: number) => void): Promise<void> {
    const tmp = join(this.#ingest, `${digest.slice(7, 23)}.${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        onBytes?.(chunk.length);
        if (expectedSize !== undefined && size > expectedSize) {
          done(new DigestMismatchError(`blob ${digest} is longer than the ${expectedSize} bytes its descriptor states`));
          return;
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(await open(), meter, createWriteStream(tmp, { mode: 0o600 }));
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new DigestMismatchError(`blob ${digest} is truncated: ${size} of ${expectedSize} bytes arrived`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw new DigestMismatchError(`blob content has digest ${actual}, expected ${digest}`);
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }
}
