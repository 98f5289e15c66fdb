/**
 * @module subsets
 * What runs inside the stock-host guest. `ci` is bounded for `npm test` under TCG (the guest runs
 * 5–20× slower than this host): the runtime conformance suite on runc and bwrap and the resource
 * attacks that judge limits (fork bomb against pids.max, a heap past memory.max reported as `oom`,
 * a CPU hog throttled by cpu.max) on runc, gVisor and bwrap, with the attacks' time stretched 4×. `full` adds gVisor's conformance suite,
 * the runtime contracts, and the tests that read cgroup files (stats, the leak scan).
 */

export type SubsetName = 'ci' | 'full' | 'limits';

export interface Subset {
  /** Test files, relative to the project tree. */
  files: string[];
  /** Environment for the run (which runtimes a file covers). */
  env: Record<string, string>;
  /** Per-test timeout passed to node --test, and the deadline of the whole guest. */
  testTimeoutMs: number;
  guestDeadlineMs: number;
}

const dist = (f: string) => `packages/server/dist/${f}`;

export const SUBSETS: Record<SubsetName, Subset> = {
  ci: {
    files: [dist('security/resource-limits.test.js'), dist('runtimes/runc.test.js'), dist('runtimes/bwrap.test.js')],
    env: { AIRLOCK_RESOURCE_RUNTIMES: 'runc,bwrap,gvisor', AIRLOCK_ATTACK_TIME_SCALE: '4' },
    testTimeoutMs: 20 * 60_000,
    guestDeadlineMs: 20 * 60_000,
  },
  // For working on the v2 paths: only the limit attacks (AIRLOCK_RESOURCE_RUNTIMES narrows them further).
  limits: {
    files: [dist('security/resource-limits.test.js')],
    env: { AIRLOCK_RESOURCE_RUNTIMES: process.env.AIRLOCK_RESOURCE_RUNTIMES ?? 'runc,bwrap,gvisor', AIRLOCK_ATTACK_TIME_SCALE: '4' },
    testTimeoutMs: 20 * 60_000,
    guestDeadlineMs: 20 * 60_000,
  },
  full: {
    files: [
      dist('security/resource-limits.test.js'),
      dist('runtimes/runc.test.js'),
      dist('runtimes/bwrap.test.js'),
      dist('runtimes/gvisor.test.js'),
      dist('runtimes/runc-contract.test.js'),
      dist('runtimes/bwrap-contract.test.js'),
      dist('runtimes/gvisor-contract.test.js'),
      dist('observe/stats.test.js'),
      dist('test/leak-scan.test.js'),
    ],
    env: { AIRLOCK_RESOURCE_RUNTIMES: 'runc,bwrap,gvisor', AIRLOCK_ATTACK_TIME_SCALE: '4' },
    testTimeoutMs: 30 * 60_000,
    guestDeadlineMs: 75 * 60_000,
  },
};

const NAME = /^[A-Z][A-Z0-9_]*$/;
const VALUE = /^[A-Za-z0-9_.,:/@-]*$/;
const FILE = /^[A-Za-z0-9_./-]+$/;

/** The script the guest's init runs (as bash, from the tree's root); its exit code is the verdict. */
export function guestRunScript(subset: Subset): string {
  for (const [k, v] of Object.entries(subset.env)) if (!NAME.test(k) || !VALUE.test(v)) throw new Error(`environment ${k}=${v} cannot go into the guest script`);
  for (const f of subset.files) if (!FILE.test(f) || f.startsWith('/') || f.includes('..')) throw new Error(`test file ${f} cannot go into the guest script`);
  return [
    'set -uo pipefail',
    'fs=$(stat -fc %T /sys/fs/cgroup)',
    'echo "stock-host guest: kernel $(uname -r), /sys/fs/cgroup is $fs, controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control), this service: $(cat /proc/self/cgroup)"',
    // The whole point: refuse to report a pass from anything but a v2-only host.
    '[ "$fs" = cgroup2fs ] || { echo "not a cgroup v2 host"; exit 90; }',
    "if grep -q ' cgroup ' /proc/mounts; then echo 'a cgroup v1 hierarchy is mounted'; exit 90; fi",
    'export AIRLOCK_TEST_ROOT=$(mktemp -d /tmp/airlock-test-XXXXXX) && chmod 711 "$AIRLOCK_TEST_ROOT"',
    // The tree is read-only in the guest; caches the tests build go to the guest's disk.
    'export AIRLOCK_FIXTURE_CACHE=/var/cache/airlock-test',
    ...Object.entries(subset.env).map(([k, v]) => `export ${k}='${v}'`),
    'status=0',
    'start=$(date +%s)',
    `node --test --test-concurrency=1 --test-timeout=${subset.testTimeoutMs} --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination=/scratch/results.tap ${subset.files.join(' ')} || status=1`,
    'echo "stock-host guest: tests took $(( $(date +%s) - start )) s (guest clock)"',
    'node packages/server/dist/test/leak-check.js --clean || { echo "stock-host guest: the leak check failed"; status=1; }',
    'exit $status',
    '',
  ].join('\n');
}

export interface TapSummary {
  pass: number;
  fail: number;
  skip: number;
  failed: string[];
}

/** Counts from node's TAP output (the `# pass N` lines), and the names of failed tests (hostile-safe: bounded). */
export function summarizeTap(tap: string): TapSummary {
  const count = (k: string) => Number(new RegExp(`^# ${k} (\\d{1,9})$`, 'm').exec(tap)?.[1] ?? 0);
  const failed = [...tap.matchAll(/^\s*not ok \d+ - (.{1,300})$/gm)].map((m) => m[1]!.trim()).slice(0, 100);
  return { pass: count('pass'), fail: count('fail'), skip: count('skipped'), failed };
}
