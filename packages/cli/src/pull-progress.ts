/**
 * @module pull-progress
 * Pulling with progress on stderr: a bar on a terminal (bytes and layers done), one line per
 * finished layer otherwise, so that logs of non-interactive runs stay readable.
 */
import { ErrorCode, type Airlock, type ImageInfo as Image, type PullProgress } from '@airlock/sdk';

export async function pullWithProgress(airlock: Airlock, reference: string): Promise<Image> {
  const tty = process.stderr.isTTY === true;
  // Loaded on a terminal only, when a pull happens: commands that never pull do not pay for it.
  const bar = tty
    ? new (await import('cli-progress')).SingleBar({
        stream: process.stderr,
        format: `${reference}  {bar} {percentage}% | {done}/{total} MiB | layers {layersDone}/{layersTotal} | {phase}`,
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined;
  let started = false;
  let layers = 0;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  try {
    const image = await airlock.images.pull(reference, {
      onProgress: (p: PullProgress) => {
        const payload = { done: mib(p.bytesDone), total: mib(p.bytesTotal), layersDone: p.layersDone, layersTotal: p.layersTotal, phase: p.phase };
        if (bar) {
          if (!started && p.bytesTotal > 0) {
            bar.start(p.bytesTotal, p.bytesDone, payload);
            started = true;
          } else if (started) bar.update(p.bytesDone, payload);
        } else if (p.layersDone > layers) {
          layers = p.layersDone;
          process.stderr.write(
            `airlock: ${reference}: layer ${p.layersDone}/${p.layersTotal} unpacked (${mib(p.bytesDone)} of ${mib(p.bytesTotal)} MiB downloaded)\n`,
          );
        }
      },
    });
    bar?.stop();
    process.stderr.write(`airlock: pulled ${reference} (${image.id})\n`);
    return image;
  } catch (e) {
    bar?.stop();
    throw e;
  }
}

/** Pulls `image` with progress unless the server already has it (the default image always is). */
export async function ensureImage(airlock: Airlock, image: string | undefined): Promise<void> {
  if (image === undefined || image === 'default') return;
  try {
    await airlock.images.get(image);
  } catch (e) {
    if ((e as { code?: string }).code !== ErrorCode.ImageNotFound) throw e;
    await pullWithProgress(airlock, image);
  }
}
