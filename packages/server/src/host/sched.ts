/**
 * @module sched
 * How the kernel schedules the server's event loop against what tenants drive. Under a flood the
 * host's CPUs are busy with one project's sandboxes, their runtimes and the flood's own requests;
 * a nice-0 event loop then waited on the run queue for 600 ms of every second (its schedstat, in
 * the tenancy bench) and every other project's requests waited with it. A higher nice value does
 * not help enough: the kernel's scheduler (EEVDF) gives weight, not wake-up latency, and the loop
 * still waited out other tasks' slices. The lowest real-time priority does: the loop runs as soon
 * as it has work, and then sleeps again.
 *
 * The loop is raised together with the threads it waits on: V8's platform workers (garbage
 * collection) and libuv's pool (file system, zlib). With the loop alone real-time, a 1 GiB
 * download through it took 30–50 s instead of 15 and its RSS grew 50–80 MiB instead of 40: the
 * loop's garbage waited for workers that sat on the run queue behind the sandboxes (a priority
 * inversion). All of them are raised with reset-on-fork: every process and thread made afterwards
 * (the spawner, a filter, a worker) starts at the normal policy, so no tenant's work ever inherits
 * it. The kernel's real-time throttling still leaves the rest of the host its share if the server
 * ever spins.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { runCommand } from './command.js';

/** SCHED_RR in /proc/<pid>/stat's policy field. */
const SCHED_RR = 2;
const RT_PRIORITY = 1;
/** Servers in this process that raised the loop and have not stopped. */
let holders = 0;

/** The policy field (41) of a /proc/<pid>/stat line. */
export function policyOfStat(stat: string): number {
  // Counted from field 3 (state), the first after the command's closing parenthesis.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

/** The scheduling policy of a thread (the process's main thread by default), from /proc. */
export function schedPolicy(tid: number = process.pid): number | undefined {
  try {
    return policyOfStat(readFileSync(`/proc/${tid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The policy of each of this process's threads, from /proc. */
export function threadPolicies(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => schedPolicy(Number(tid)) ?? []);
}

/**
 * Puts this process's event loop and its helper threads at the lowest real-time priority
 * (SCHED_RR 1, reset on fork). Resolves with why it could not (no CAP_SYS_NICE, no chrt), or
 * undefined once it holds.
 */
export async function raiseEventLoop(): Promise<string | undefined> {
  if (schedPolicy() === SCHED_RR) {
    holders++;
    return undefined;
  }
  // libuv starts its whole pool at the first request; raised after, its threads would start normal.
  await stat('/');
  let result;
  try {
    result = await runCommand(['chrt', '--all-tasks', '--rr', '--reset-on-fork', '--pid', String(RT_PRIORITY), String(process.pid)], {
      timeoutMs: 10_000,
    });
  } catch (e) {
    return `chrt could not run: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (result.code !== 0) return result.stderr.trim() || `chrt exited with ${result.code}`;
  if (schedPolicy() !== SCHED_RR) return 'the policy did not change';
  holders++;
  return undefined;
}

/**
 * Back to the normal policy once the last server that raised it stops (servers that stop in a
 * process that goes on: tests, benchmarks).
 */
export async function lowerEventLoop(): Promise<void> {
  if (holders === 0) return;
  holders--;
  if (holders > 0 || schedPolicy() !== SCHED_RR) return;
  await runCommand(['chrt', '--all-tasks', '--other', '--pid', '0', String(process.pid)], { timeoutMs: 10_000 });
}
