/**
 * @module build-progress
 * A build's progress on stderr: one line per step (`[3/7] RUN …`), the step's own output indented
 * under it, and per layer whether it came from the cache, its size and how long it took. Plain
 * lines, so a build log reads the same in a terminal and in CI.
 */
import type { BuildEvent } from '@airlock/sdk';

type Progress = Exclude<BuildEvent, { type: 'image' | 'error' }>;

export function buildProgress(write: (s: string) => void = (s) => process.stderr.write(s)): (e: Progress) => void {
  let atLineStart = true;
  return (e) => {
    switch (e.type) {
      case 'build':
        write(`airlock: build ${e.id} (cancel with Ctrl-C)\n`);
        return;
      case 'step':
        if (!atLineStart) write('\n');
        atLineStart = true;
        write(`[${e.step}/${e.steps}] ${e.instruction.split('\n')[0]!.slice(0, 200)}\n`);
        return;
      case 'output': {
        const text = e.data.replace(/\r?\n(?!$)/g, '\n    ');
        write(`${atLineStart ? '    ' : ''}${text}`);
        atLineStart = text.endsWith('\n');
        return;
      }
      case 'layer':
        if (!atLineStart) write('\n');
        atLineStart = true;
        write(
          `    ${e.cached ? 'cached' : 'done'}: layer ${e.digest.slice(7, 19)} (${(e.size / 2 ** 20).toFixed(1)} MiB${e.cached ? '' : `, ${(e.durationMs / 1000).toFixed(1)} s`})\n`,
        );
        return;
    }
  };
}
