/**
 * @module cgroups
 * The cgroups of a sandbox, on v1 (a hierarchy per controller) and v2 (one unified tree). A
 * project's sandboxes nest under one level per project, `/airlock/project-<hash>/<id>`, every project
 * level with the same CPU weight: under contention the kernel shares CPU between projects first and
 * only then between one project's sandboxes, so a project's many busy sandboxes together get one
 * project's share. Pooled sandboxes (no one's until claimed) and those of servers before this layout
 * sit flat at `/airlock/<id>`; every reader finds a sandbox at either place by its id.
 * runc and runsc create the cgroups and write the limits themselves; for bubblewrap we create them
 * here and its launcher joins them before exec. We read OOM counters and check that nothing of ours
 * is left.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { projectTag } from '../project-tag.js';

const ROOT = '/sys/fs/cgroup';
export const CGROUP_PARENT = 'airlock';
// `unified` is a hybrid host's v2 tree beside the v1 hierarchies: runc makes a sandbox's path there too.
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'devices', 'freezer', 'blkio', 'systemd', 'net_cls', 'perf_event', 'hugetlb', 'unified'];
export const PROJECT_LEVEL_PREFIX = 'project-';
/**
 * The leaf beside a project's sandboxes where host work done for the project runs: the runtime's
 * commands (create, kill, delete) and each sandbox's shim. Its CPU is the project's, so one
 * project's creates compete with its own sandboxes, not with the server or other projects. (A leaf,
 * not the level itself: cgroup v2 keeps processes out of a cgroup whose children have controllers.)
 */
export const OPS_LEAF = 'ops';
/** Every project level's CPU weight: the kernel's default, written so that all project levels are equal whoever made them. */
export const PROJECT_CPU_WEIGHT = { v1Shares: 1024, v2Weight: 100 } as const;

export function cgroupVersion(): 1 | 2 {
  return existsSync(join(ROOT, 'cgroup.controllers')) ? 2 : 1;
}

/** The project's level under the parent. */
export function projectCgroupName(project: string): string {
  return `${PROJECT_LEVEL_PREFIX}${projectTag(project)}`;
}

/** The roots of every hierarchy a sandbox has cgroups in. */
function hierarchies(): string[] {
  return cgroupVersion() === 2 ? [ROOT] : V1_CONTROLLERS.map((c) => join(ROOT, c));
}

/** Where each sandbox's cgroups are below a hierarchy root (`airlock/…/<id>`), once placed or found. */
const placed = new Map<string, string>();

/** The runtime's cgroupsPath for a sandbox: under its project's level, or flat when it has none (pooled). */
export function cgroupsPath(id: string, project?: string): string {
  const rel = project === undefined ? join(CGROUP_PARENT, id) : join(CGROUP_PARENT, projectCgroupName(project), id);
  placed.set(id, rel);
  return `/${rel}`;
}

/** Below a hierarchy root, where the sandbox's cgroups are: flat, under a project level, or (found nowhere) flat. */
function sandboxRel(id: string): string {
  const known = placed.get(id);
  if (known !== undefined) return known;
  const flat = join(CGROUP_PARENT, id);
  for (const h of hierarchies()) {
    if (existsSync(join(h, flat))) return remember(id, flat);
    for (const level of projectLevels(join(h, CGROUP_PARENT))) {
      const rel = join(CGROUP_PARENT, level, id);
      if (existsSync(join(h, rel))) return remember(id, rel);
    }
  }
  return flat;
}

function remember(id: string, rel: string): string {
  placed.set(id, rel);
  return rel;
}

function projectLevels(parent: string): string[] {
  return safeList(parent).filter((e) => e.startsWith(PROJECT_LEVEL_PREFIX));
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return []; // controller not mounted or parent not created yet
  }
}

/** The sandbox's cgroup path as the runtime names it (`/airlock/…/<id>`), wherever it was placed. */
export function sandboxCgroupPath(id: string): string {
  return `/${sandboxRel(id)}`;
}

/** The sandbox's cgroup directory in one v1 controller's hierarchy (ignored on v2, which has one tree). */
export function sandboxCgroupDir(id: string, controller: string): string {
  return cgroupVersion() === 2 ? join(ROOT, sandboxRel(id)) : join(ROOT, controller, sandboxRel(id));
}

/**
 * Makes the project's level with the project CPU weight before a runtime creates a sandbox below it.
 * A level that a runtime makes itself (a race with the last sandbox's removal) gets the kernel's
 * default weight, which is the same value.
 */
export function ensureProjectCgroup(project: string): void {
  const write = (path: string, value: string | number) => writeFileSync(path, String(value));
  const name = projectCgroupName(project);
  if (cgroupVersion() === 2) {
    const dir = join(ROOT, CGROUP_PARENT, name);
    for (const d of [ROOT, join(ROOT, CGROUP_PARENT), dir]) {
      mkdirSync(d, { recursive: true });
      write(join(d, 'cgroup.subtree_control'), '+memory +cpu +pids');
    }
    write(join(dir, 'cpu.weight'), PROJECT_CPU_WEIGHT.v2Weight);
    return;
  }
  const dir = join(ROOT, 'cpu', CGROUP_PARENT, name);
  mkdirSync(dir, { recursive: true });
  write(join(dir, 'cpu.shares'), PROJECT_CPU_WEIGHT.v1Shares);
}

/**
 * Project levels a runtime is creating a sandbox under right now, with how many such creates. runc
 * and runsc make the sandbox's cgroups themselves, below a level that exists but is still empty
 * while they run: the release of the project's previous sandbox would remove it from under them
 * (runc then fails `mkdir …/<id>: no such file or directory`). A held level is never removed; the
 * last hold to go removes it if it is empty by then.
 */
const heldLevels = new Map<string, number>();

/** Holds the project's level until the returned function is called (for a runtime's start). */
export function holdProjectLevel(project: string | undefined): () => void {
  if (project === undefined) return () => {};
  const level = join(CGROUP_PARENT, projectCgroupName(project));
  heldLevels.set(level, (heldLevels.get(level) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const n = heldLevels.get(level)! - 1;
    if (n > 0) heldLevels.set(level, n);
    else {
      heldLevels.delete(level);
      removeLevelIfEmpty(level);
    }
  };
}

/** The controllers the ops leaf is in on v1: what weighs and counts CPU. */
const V1_OPS_CONTROLLERS = ['cpu', 'cpuacct'];

/** The cgroup.procs files of a project's ops leaf (made if missing), for work done on behalf of the project; none without a project (pooled). */
export function projectOps(project: string | undefined): string[] {
  if (project === undefined) return [];
  ensureProjectCgroup(project);
  return opsProcs(join(CGROUP_PARENT, projectCgroupName(project)));
}

/**
 * For a host program run for a project outside any create (a pull's or a build's codec, a build's
 * tree walk): the ops leaf's procs files to join, and a hold on the level that `release` gives back
 * once the program is gone, which removes the level if no sandbox is in it. Best effort, as for a
 * create's commands: where the leaf cannot be made (no writable cgroups), it runs uncharged. No
 * project (an admin's pull): nothing to join.
 */
export function chargeTo(project: string | undefined): { cgroupProcs: string[]; release(): void } {
  const release = holdProjectLevel(project);
  try {
    return { cgroupProcs: projectOps(project), release };
  } catch {
    return { cgroupProcs: [], release };
  }
}

/** projectOps of the project whose level the sandbox is under; none for a flat one (pooled, or from before). */
export function sandboxOps(id: string): string[] {
  const level = join(sandboxRel(id), '..');
  return level === CGROUP_PARENT ? [] : opsProcs(level);
}

function opsProcs(levelRel: string): string[] {
  const dirs = cgroupVersion() === 2 ? [join(ROOT, levelRel, OPS_LEAF)] : V1_OPS_CONTROLLERS.map((c) => join(ROOT, c, levelRel, OPS_LEAF));
  const files: string[] = [];
  for (const d of dirs) {
    try {
      mkdirSync(d, { recursive: true });
      files.push(join(d, 'cgroup.procs'));
    } catch {
      // a controller not mounted here: the work runs uncharged to it
    }
  }
  return files;
}

function oomFile(id: string): string {
  return cgroupVersion() === 2 ? join(sandboxCgroupDir(id, ''), 'memory.events') : join(sandboxCgroupDir(id, 'memory'), 'memory.oom_control');
}

/** Number of OOM kills recorded in the sandbox's memory cgroup, or undefined if it is gone. */
export async function readOomKills(id: string): Promise<number | undefined> {
  try {
    const m = /^oom_kill (\d+)$/m.exec(await readFile(oomFile(id), 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

/** Directories of a sandbox's cgroups that still exist (for cleanup and leak checks). */
export function sandboxCgroupDirs(id: string): string[] {
  const rel = sandboxRel(id);
  return hierarchies()
    .map((h) => join(h, rel))
    .filter((d) => existsSync(d));
}

/** Every sandbox id that has a cgroup under our parent, flat or under a project level, in any controller. */
export function listSandboxCgroups(): string[] {
  const ids = new Set<string>();
  for (const h of hierarchies()) {
    const parent = join(h, CGROUP_PARENT);
    for (const e of safeList(parent)) {
      if (!e.startsWith(PROJECT_LEVEL_PREFIX)) ids.add(e);
      else for (const id of safeList(join(parent, e))) if (id !== OPS_LEAF) ids.add(id);
    }
  }
  return [...ids];
}

/**
 * Project levels (in any hierarchy) that hold no sandbox (an ops leaf at most): what the removal of a
 * project's last sandbox leaves if it fails.
 */
export function emptyProjectCgroups(): string[] {
  return hierarchies().flatMap((h) =>
    projectLevels(join(h, CGROUP_PARENT))
      .map((level) => join(h, CGROUP_PARENT, level))
      .filter((d) => safeList(d).every((e) => e === OPS_LEAF)),
  );
}

/**
 * Removes a sandbox's empty cgroups, then its project's level if that was the project's last
 * sandbox. runc deletes the sandbox's own itself; runsc can leave some behind when its sandbox was
 * killed, and nobody but us removes a project level, so destroy always sweeps. rmdir fails on a
 * non-empty cgroup, which is what we want: a cgroup with live processes (or a project level with
 * another sandbox, maybe one being created right now) is never dropped.
 */
export function removeSandboxCgroups(id: string): string[] {
  const failed: string[] = [];
  const rel = sandboxRel(id);
  for (const d of sandboxCgroupDirs(id)) {
    try {
      rmdirSync(d);
    } catch {
      failed.push(d);
    }
  }
  const level = join(rel, '..');
  if (level !== CGROUP_PARENT) removeLevelIfEmpty(level);
  if (failed.length === 0) placed.delete(id);
  return failed;
}

/** Removes a project level (and its ops leaf) in every hierarchy where it holds no sandbox, unless a start holds it. */
function removeLevelIfEmpty(level: string): void {
  if (heldLevels.has(level)) return;
  for (const h of hierarchies()) {
    const dir = join(h, level);
    // Its ops leaf goes with the last sandbox, and only once no command or shim of the project runs in it.
    if (!safeList(dir).every((e) => e === OPS_LEAF)) continue;
    try {
      if (existsSync(join(dir, OPS_LEAF))) rmdirSync(join(dir, OPS_LEAF));
      rmdirSync(dir);
    } catch {
      // its work still runs, another server's sandbox is being made there, or this hierarchy has none
    }
  }
}

export interface CgroupLimits {
  memoryBytes: number;
  /** CPU time per period, in microseconds. */
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  pids: number;
}

/**
 * Creates the sandbox's cgroups with its limits (memory with swap equal to it, CPU quota, pids),
 * under its project's level when it has a project, and returns the cgroup.procs files a launcher
 * writes its own pid to before it execs the sandbox.
 */
export function createSandboxCgroups(id: string, limits: CgroupLimits, project?: string): string[] {
  const write = (path: string, value: string | number) => writeFileSync(path, String(value));
  if (project !== undefined) ensureProjectCgroup(project);
  const rel = cgroupsPath(id, project).slice(1);
  if (cgroupVersion() === 2) {
    // Controllers must be enabled on every parent for the leaf to get its files.
    for (const dir of [ROOT, join(ROOT, CGROUP_PARENT)]) {
      mkdirSync(dir, { recursive: true });
      write(join(dir, 'cgroup.subtree_control'), '+memory +cpu +pids');
    }
    const dir = join(ROOT, rel);
    mkdirSync(dir);
    write(join(dir, 'memory.max'), limits.memoryBytes);
    if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), 0);
    write(join(dir, 'cpu.max'), `${limits.cpuQuotaUs} ${limits.cpuPeriodUs}`);
    write(join(dir, 'pids.max'), limits.pids);
    return [join(dir, 'cgroup.procs')];
  }
  const dir = (ctl: string) => join(ROOT, ctl, rel);
  // cpuacct holds no limit, but it is where v1 counts the CPU time that stats report.
  const joined = ['memory', 'cpu', 'cpuacct', 'pids'].filter((ctl) => ctl !== 'cpuacct' || existsSync(join(ROOT, ctl)));
  for (const ctl of joined) mkdirSync(dir(ctl), { recursive: true });
  write(join(dir('memory'), 'memory.limit_in_bytes'), limits.memoryBytes);
  // memsw exists only with swap accounting; it must be set after the plain limit.
  if (existsSync(join(dir('memory'), 'memory.memsw.limit_in_bytes'))) write(join(dir('memory'), 'memory.memsw.limit_in_bytes'), limits.memoryBytes);
  write(join(dir('cpu'), 'cpu.cfs_period_us'), limits.cpuPeriodUs);
  write(join(dir('cpu'), 'cpu.cfs_quota_us'), limits.cpuQuotaUs);
  write(join(dir('pids'), 'pids.max'), limits.pids);
  return joined.map((ctl) => join(dir(ctl), 'cgroup.procs'));
}

/** Host pids in the sandbox's cgroup (every process of a bubblewrap sandbox, bwrap itself included). */
export function sandboxCgroupPids(id: string): number[] {
  const file = join(sandboxCgroupDir(id, 'pids'), 'cgroup.procs');
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * SIGKILLs every process in the sandbox's cgroup until it is empty (a process may fork while we
 * look). For runtimes whose processes all live there: bubblewrap, microVMs.
 */
export async function killSandboxCgroup(id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const pids = sandboxCgroupPids(id);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await delay(20);
  }
}
