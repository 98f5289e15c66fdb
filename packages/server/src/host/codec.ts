/**
 * @module codec
 * Compression and decompression of layers and archives, always in a program of their own (gzip,
 * bzip2, xz, zstd) and never in the server's process. The server's threads run at real-time
 * priority (sched.ts), libuv's pool included, so a layer inflated with Node's zlib would run ahead
 * of every sandbox; and inflating is work a tenant asks for, by pulling or building. A program
 * forked from the server starts at normal priority (reset-on-fork) and competes like that work
 * should. It also keeps a hostile layer's decompression out of the server's memory. Given the
 * project that asked (a pull, an import, a build), the program runs in that project's ops leaf
 * (command.ts spawnFor), so its CPU is the project's share, not the host's: on a v1 host the server's own
 * cgroup is often the root, where each program would weigh as much as every sandbox together.
 */
import type { Readable } from 'node:stream';
import { filterThrough } from './command.js';

export type Codec = 'gzip' | 'bzip2' | 'xz' | 'zstd';

/**
 * Strict as containerd's readers are: gzip skips trailing zeros after the last member, as Go's
 * reader and Node's zlib do, but exits 2 for other trailing bytes, and that fails the layer.
 */
const DECOMPRESS: Record<Codec, string[]> = {
  gzip: ['gzip', '-dcq'],
  bzip2: ['bzip2', '-dcq'],
  xz: ['xz', '-dcq'],
  zstd: ['zstd', '-dcq'],
};

/**
 * Level 6 is gzip's default and the one Node's zlib used; `-n` leaves out a name and a time, so a
 * layer's bytes depend on its content alone. zstd -3 is zstd's default.
 */
const COMPRESS: Record<'gzip' | 'zstd', string[]> = {
  gzip: ['gzip', '-c', '-n', '-6'],
  zstd: ['zstd', '-q', '-c', '-3', '--no-progress'],
};

/** The stream decompressed; a corrupt input fails the returned stream with the program's message. */
export function decompressed(input: Readable, codec: Codec, project?: string): Readable {
  return filterThrough(DECOMPRESS[codec], input, { project });
}

/** The stream compressed. */
export function compressed(input: Readable, codec: 'gzip' | 'zstd', project?: string): Readable {
  return filterThrough(COMPRESS[codec], input, { project });
}
