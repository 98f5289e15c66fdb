/**
 * @module main
 * The driver of `npm run test:stock-host` (scripts/stock-host.sh builds the image and calls it):
 * boots the cgroup-v2-only guest, runs a named subset of the suite inside (subsets.ts), prints what
 * the guest ran and reports: exit 0 only if the guest's run script exited 0 (every test passed and
 * its leak check found nothing). Logs are kept in --log-dir.
 *
 *   node main.js --image I --kernel K --initrd R --tree T [--subset ci|full] [--log-dir D]
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bootStockGuest } from './boot.js';
import { SUBSETS, guestRunScript, summarizeTap, type SubsetName } from './subsets.js';

const { values } = parseArgs({
  options: {
    image: { type: 'string' },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    tree: { type: 'string' },
    subset: { type: 'string', default: process.env.AIRLOCK_STOCK_HOST_SUBSET ?? 'ci' },
    'log-dir': { type: 'string' },
    vcpus: { type: 'string', default: '2' },
    'memory-mib': { type: 'string', default: '3072' },
  },
});

const say = (line: string) => process.stderr.write(`stock-host: ${line}\n`);

async function main(): Promise<number> {
  const { image, kernel, initrd, tree } = values;
  if (!image || !kernel || !initrd || !tree) {
    say('usage: main.js --image I --kernel K --initrd R --tree T [--subset ci|full] [--log-dir D]');
    return 2;
  }
  const name = values.subset as SubsetName;
  const subset = SUBSETS[name];
  if (!subset) {
    say(`unknown subset ${name}; known: ${Object.keys(SUBSETS).join(', ')}`);
    return 2;
  }
  // KVM guests hang on these machines (docs/microvm.md): TCG unless the operator says otherwise.
  const accel = process.env.AIRLOCK_VM_ACCEL === 'kvm' ? 'kvm' : 'tcg';
  const logDir = values['log-dir'] ?? `${process.env.AIRLOCK_TEST_ROOT ?? '/tmp'}/stock-host-logs`;
  say(
    `booting a cgroup-v2-only Debian 12 guest (${accel}, ${values.vcpus} vCPUs, ${values['memory-mib']} MiB), subset ${name}: ${subset.runs.flatMap((r) => r.files).length} test files`,
  );
  const r = await bootStockGuest({
    image,
    kernel,
    initrd,
    tree,
    initScript: fileURLToPath(new URL('../../../../scripts/stock-host-init.sh', import.meta.url)),
    runScript: guestRunScript(subset),
    accel,
    vcpus: Number(values.vcpus),
    memoryMiB: Number(values['memory-mib']),
    deadlineMs: subset.guestDeadlineMs,
    logDir,
    progress: (l) => process.stderr.write(`  guest | ${l}\n`),
  });
  const tap = summarizeTap(r.tap);
  say(
    `guest finished in ${(r.wallMs / 1000).toFixed(0)} s: run.sh exit ${r.exitCode ?? 'none'}${r.timedOut ? ' (deadline)' : ''}; tests pass ${tap.pass}, fail ${tap.fail}, skipped ${tap.skip}`,
  );
  for (const f of tap.failed) say(`  failed: ${f}`);
  if (r.initFailure) say(`the guest's init failed: ${r.initFailure}`);
  if (r.exitCode === undefined) say(`no verdict from the guest; its console ended with:\n${r.consoleTail}`);
  say(`logs: ${logDir}`);
  return r.exitCode === 0 && !r.timedOut ? 0 : 1;
}

process.exitCode = await main();
