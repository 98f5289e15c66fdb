/**
 * @module boot-console
 * The guest's console while it boots. QEMU keeps the console in a bounded ring (read over QMP);
 * a guest that fails early powers off and takes the ring with it, so while it boots the ring is
 * drained every 200 ms into a bounded tail here. On a failed boot the tail's last lines go to the
 * server log.
 */
import { readConsole } from '../../host/vm/qmp.js';

const TAIL_BYTES = 32 * 1024;

export class BootConsole {
  readonly #qmp: string;
  readonly #ring: number;
  #tail = '';
  #all = '';
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> = Promise.resolve();

  constructor(qmpSocket: string, ringBytes: number) {
    this.#qmp = qmpSocket;
    this.#ring = ringBytes;
  }

  watch(): void {
    this.#timer = setInterval(() => {
      this.#reading = this.#reading.then(() => this.#drain());
    }, 200);
  }

  /** Stops watching after one last read. */
  async stop(): Promise<void> {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#reading = this.#reading.then(() => this.#drain());
    await this.#reading;
  }

  /** Everything read since boot, bounded (for the OOM counter). */
  get text(): string {
    return this.#all;
  }

  lastLines(n: number): string[] {
    return this.#tail
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '')
      .slice(-n);
  }

  async #drain(): Promise<void> {
    try {
      const text = await readConsole(this.#qmp, this.#ring, 1000);
      if (!text) return;
      this.#tail = (this.#tail + text).slice(-TAIL_BYTES);
      this.#all = (this.#all + text).slice(-TAIL_BYTES);
    } catch {
      // not listening yet, or gone
    }
  }
}
