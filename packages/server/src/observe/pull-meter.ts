/**
 * @module pull-meter
 * Counts and times image pulls at the one door every pull goes through (the Puller: the images
 * API, creates of a pulled image, builds' FROM), without the image code knowing metrics exist.
 */
import type { Metrics } from './metrics.js';

export function countPulls(puller: { pull(...args: never[]): Promise<unknown> }, metrics: Metrics): void {
  const pull = puller.pull.bind(puller) as (...args: unknown[]) => Promise<unknown>;
  (puller as { pull: (...args: unknown[]) => Promise<unknown> }).pull = async (...args: unknown[]) => {
    const t0 = performance.now();
    let outcome = 'error';
    try {
      const r = await pull(...args);
      outcome = 'ok';
      return r;
    } finally {
      metrics.imagePulls.inc({ outcome });
      metrics.imagePullSeconds.observe({ outcome }, (performance.now() - t0) / 1000);
    }
  };
}
