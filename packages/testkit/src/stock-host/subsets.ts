/**
 * @module subsets
 * What runs inside the stock-host guest. `ci` is bounded for `npm test` under TCG (the guest runs
 * 5–20× slower than this host): the runtime conformance suite on runc and bwrap; the resource
 * attacks that judge limits (fork bomb against pids.max, a heap past memory.max reported as `oom`,
 * a CPU hog throttled by cpu.max) on runc, gVisor and bwrap; the per-project cgroup levels with
 * their ops leaves; and the event loop's real-time priority. `full` adds gVisor's conformance
 * suite, the runtime contracts, and the tests that read cgroup files (stats, the leak scan).
 */

export type SubsetName = 'ci' | 'full' | 'limits' | 'cgroups';

export interface GuestRun {
  /** Test files, relative to the project tree. */
  files: string[];
  /** Only the tests whose names match (node --test --test-name-pattern). */
  namePattern?: string;
}

export interface Subset {
  /** One node --test invocation each (a name pattern applies to every file of its invocation). */
  runs: GuestRun[];
  /** Environment for the run (which runtimes a file covers). */
  env: Record<string, string>;
  /** Per-test timeout passed to node --test, and the deadline of the whole guest. */
  testTimeoutMs: number;
  guestDeadlineMs: number;
}

const dist = (f: string) => `packages/server/dist/${f}`;
// Under TCG, gVisor's forks under ptrace are so slow that its fork bomb reaches no limit (neither the
// guest's RLIMIT_NPROC nor the host's pids.max) in 60 s while the sentry starves its own agent: not
// judgeable in bounded time there. gVisor's pids.max on v2 is checked by the conformance test below.
// The other attacks reach their limits in their usual time even under TCG (measured: a 4× stretch only
// made the subset 3 minutes longer), so AIRLOCK_ATTACK_TIME_SCALE stays 1 here.
const TCG_ENV = { AIRLOCK_RESOURCE_RUNTIMES: 'runc,bwrap,gvisor', AIRLOCK_RESOURCE_SKIP: 'gvisor/A1.fork-bomb' };
const GVISOR_LIMITS: GuestRun = {
  files: [dist('runtimes/gvisor.test.js')],
  namePattern: 'writes its cpu, memory and pids limits|kills a process that exceeds the memory limit',
};

export const SUBSETS: Record<SubsetName, Subset> = {
  ci: {
    runs: [
      {
        files: [
          dist('sandbox/project-cgroups.test.js'),
          dist('host/sched.test.js'),
          'packages/security/dist/resource-limits.test.js',
          dist('runtimes/runc.test.js'),
          dist('runtimes/bwrap.test.js'),
        ],
      },
      GVISOR_LIMITS,
    ],
    env: TCG_ENV,
    testTimeoutMs: 20 * 60_000,
    guestDeadlineMs: 20 * 60_000,
  },
  // For working on the v2 paths: only the limit attacks (AIRLOCK_RESOURCE_RUNTIMES narrows them further).
  limits: {
    runs: [{ files: ['packages/security/dist/resource-limits.test.js'] }],
    env: { ...TCG_ENV, AIRLOCK_RESOURCE_RUNTIMES: process.env.AIRLOCK_RESOURCE_RUNTIMES ?? TCG_ENV.AIRLOCK_RESOURCE_RUNTIMES },
    testTimeoutMs: 20 * 60_000,
    guestDeadlineMs: 20 * 60_000,
  },
  // For working on the cgroup layout: the per-project levels on v2 (host/cgroups.ts).
  cgroups: {
    runs: [{ files: [dist('sandbox/project-cgroups.test.js')] }],
    env: TCG_ENV,
    testTimeoutMs: 20 * 60_000,
    guestDeadlineMs: 20 * 60_000,
  },
  // What ci leaves out runs first, so a run stopped at its deadline has covered the new ground.
  full: {
    runs: [
      {
        files: [
          dist('observe/stats.test.js'),
          'packages/testkit/dist/leak-scan.test.js',
          dist('runtimes/runc-contract.test.js'),
          dist('runtimes/bwrap-contract.test.js'),
          dist('runtimes/gvisor-contract.test.js'),
          dist('runtimes/gvisor.test.js'),
        ],
      },
      { files: ['packages/security/dist/resource-limits.test.js', dist('runtimes/runc.test.js'), dist('runtimes/bwrap.test.js')] },
    ],
    env: TCG_ENV,
    testTimeoutMs: 30 * 60_000,
    guestDeadlineMs: 75 * 60_000,
  },
};

const NAME = /^[A-Z][A-Z0-9_]*$/;
const VALUE = /^[A-Za-z0-9_.,:/@-]*$/;
const FILE = /^[A-Za-z0-9_./-]+$/;
const PATTERN = /^[A-Za-z0-9 ,.|-]+$/;

/** The script the guest's init runs (as bash, from the tree's root); its exit code is the verdict. */
export function guestRunScript(subset: Subset): string {
  for (const [k, v] of Object.entries(subset.env))
    if (!NAME.test(k) || !VALUE.test(v)) throw new Error(`environment ${k}=${v} cannot go into the guest script`);
  for (const run of subset.runs) {
    for (const f of run.files) if (!FILE.test(f) || f.startsWith('/') || f.includes('..')) throw new Error(`test file ${f} cannot go into the guest script`);
    if (run.namePattern !== undefined && !PATTERN.test(run.namePattern)) throw new Error(`name pattern ${run.namePattern} cannot go into the guest script`);
  }
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
    ...subset.runs.map(
      (run, i) =>
        `node --test --test-concurrency=1 --test-timeout=${subset.testTimeoutMs} --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination=/scratch/results-${i}.tap${run.namePattern ? ` --test-name-pattern='${run.namePattern}'` : ''} ${run.files.join(' ')} || status=1`,
    ),
    'echo "stock-host guest: tests took $(( $(date +%s) - start )) s (guest clock)"',
    'node packages/testkit/dist/leak-check.js --clean || { echo "stock-host guest: the leak check failed"; status=1; }',
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
  // One TAP stream per node --test run, concatenated: sum their counts.
  const count = (k: string) => [...tap.matchAll(new RegExp(`^# ${k} (\\d{1,9})$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  const failed = [...tap.matchAll(/^\s*not ok \d+ - (.{1,300})$/gm)].map((m) => m[1]!.trim()).slice(0, 100);
  return { pass: count('pass'), fail: count('fail'), skip: count('skipped'), failed };
}
