/**
 * The noisy tenant of the tenancy benchmark, in a process of its own (a real tenant is another
 * client): exec loops into one sandbox and create+destroy loops, until SIGTERM; then it prints what
 * it did as one JSON line and exits. usage: tenancy-flood.js URL API_KEY EXEC_LOOPS CREATE_LOOPS
 */
import { Airlock } from '@airlock/sdk';

const [url, apiKey, execLoops, createLoops] = process.argv.slice(2);
if (!url || !apiKey) throw new Error('usage: tenancy-flood.js URL API_KEY EXEC_LOOPS CREATE_LOOPS');
const client = new Airlock({ url, apiKey });
const runtime = 'runc' as const;
let stop = false;
const done = { execs: 0, creates: 0, refused: 0 };
process.once('SIGTERM', () => (stop = true));

const target = await client.sandboxes.create({ runtime });
process.stdout.write('FLOODING\n');
const loops = [
  ...Array.from({ length: Number(execLoops) }, async () => {
    while (!stop) {
      try {
        await target.exec(['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done']);
        done.execs++;
      } catch {
        done.refused++; // over its quota: 429, as designed
      }
    }
  }),
  ...Array.from({ length: Number(createLoops) }, async () => {
    while (!stop) {
      try {
        const s = await client.sandboxes.create({ runtime });
        await s.destroy();
        done.creates++;
      } catch {
        done.refused++;
      }
    }
  }),
];
await Promise.all(loops);
await target.destroy();
process.stdout.write(`${JSON.stringify(done)}\n`);
