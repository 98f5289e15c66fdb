/**
 * @module seccomp-profile
 * The sandbox's seccomp profile, in the OCI spec's format. It is generated, not copied: the
 * allow-list comes from the docker-style profile the host ships (containers-common's
 * /usr/share/containers/seccomp.json, read by host/seccomp-source.ts), reduced to x86 and to the
 * rules our capability set unlocks, and then our own denies are applied on top. Default action:
 * ERRNO(ENOSYS), so a syscall nobody reviewed fails the way an old kernel would.
 *
 * SECURITY: the denies below are the reviewed part. The system profile allows them (podman relies
 * on capabilities instead); we want a second layer under the capability set.
 */

const EPERM = 1;
const ENOSYS = 38;
/** Every CLONE_NEW* flag but CLONE_NEWTIME, which clone() shares with its exit-signal byte. */
const CLONE_NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];
const CLONE_NEWTIME = 0x80;
const S_IFMT = 0o170000;
/** Regular file (also spelled 0), FIFO, socket: what mknod may make without creating a device. */
const MKNOD_ALLOWED_TYPES = [0, 0o100000, 0o010000, 0o140000];

/** Syscalls refused with EPERM whatever the system profile says. */
export const DENIED_SYSCALLS: readonly string[] = [
  // Keyrings are per host uid, not per container: a key planted in one sandbox is visible to any
  // process of the same uid, and keyctl has a long CVE history.
  'keyctl',
  'add_key',
  'request_key',
  // Mounting and the new mount API: a namespaced root must not rearrange its view.
  'mount',
  'umount',
  'umount2',
  'pivot_root',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'mount_setattr',
  // Joining other namespaces (e.g. /proc/1/ns/*).
  'setns',
  // Large kernel attack surfaces that most kernelCTF exploits went through.
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  // Reading or steering other processes.
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'open_by_handle_at',
  'name_to_handle_at',
  // The kernel itself.
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'syslog',
  'iopl',
  'ioperm',
];

/**
 * Syscalls gVisor's sentry knows by another name than Linux does. runsc resolves a profile's names
 * in its own table and drops the ones it does not know, so without the alias an allowed syscall is
 * refused: `pselect6` is what glibc's select() calls, and readline (bash, python) needs it.
 */
const SENTRY_NAMES: Readonly<Record<string, string>> = { pselect6: 'pselect' };

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo: number;
  op: string;
}

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface OciSeccomp {
  /** ALLOW only in the security suite's deliberately weakened test sandbox. */
  defaultAction: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_ALLOW';
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

/** The docker/podman profile format, as far as we read it. */
export interface DockerStyleProfile {
  syscalls: {
    names?: string[];
    name?: string;
    action: string;
    errnoRet?: number;
    args?: SeccompArg[] | null;
    includes?: { caps?: string[]; arches?: string[] };
    excludes?: { caps?: string[]; arches?: string[] };
  }[];
}

/**
 * Builds the profile for a sandbox holding `capabilities` (e.g. 'CAP_CHOWN'). Only the system
 * profile's ALLOW rules are taken (its own ERRNO rules cover what our default already refuses).
 */
export function buildSeccompProfile(
  system: DockerStyleProfile,
  capabilities: readonly string[],
  options: { honoursErrnoRet: boolean; sentryNames?: boolean },
): OciSeccomp {
  const denied = new Set(DENIED_SYSCALLS);
  // clone, unshare and mknod are allowed below only with conditions; clone3 hides its flags in
  // memory a filter cannot read, so it gets ENOSYS and libc falls back to clone.
  const conditional = new Set(['clone', 'unshare', 'clone3', 'mknod', 'mknodat']);
  const holds = (caps: string[] | undefined) => (caps ?? []).every((c) => capabilities.includes(c));
  const x86 = (arches: string[] | undefined) => arches === undefined || arches.some((a) => a === 'amd64' || a === 'x86' || a === 'x32');
  const rules: SeccompRule[] = [];
  for (const s of system.syscalls) {
    if (s.action !== 'SCMP_ACT_ALLOW') continue;
    if (!holds(s.includes?.caps) || !x86(s.includes?.arches)) continue;
    if (s.excludes?.caps?.some((c) => capabilities.includes(c))) continue;
    const names = (s.names ?? (s.name ? [s.name] : [])).filter((n) => !denied.has(n) && !conditional.has(n));
    if (names.length === 0) continue;
    if (options.sentryNames) names.push(...names.flatMap((n) => (SENTRY_NAMES[n] ? [SENTRY_NAMES[n]] : [])));
    rules.push({ names, action: 'SCMP_ACT_ALLOW', ...(s.args && s.args.length > 0 ? { args: s.args.map((a) => ({ ...a })) } : {}) });
  }
  rules.push(...namespaceRules('clone', CLONE_NAMESPACE_FLAGS), ...namespaceRules('unshare', [...CLONE_NAMESPACE_FLAGS, CLONE_NEWTIME]));
  rules.push(...mknodRules('mknod', 1), ...mknodRules('mknodat', 2));
  rules.push(auditSocketRule(options.honoursErrnoRet));
  rules.push(
    // runsc (2022) ignores errnoRet and answers EPERM, which libc does not take as "fall back to
    // clone": threads would fail. There clone3 is left to the sentry, which implements it itself.
    options.honoursErrnoRet ? { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS } : { names: ['clone3'], action: 'SCMP_ACT_ALLOW' },
    { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
  );
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: ENOSYS, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: rules };
}

/**
 * `name` (flags in arg 0) is allowed only without namespace flags: a sandbox never makes namespaces,
 * and a nested user namespace is the door to most unprivileged kernel exploits. EPERM otherwise.
 */
const AF_NETLINK = 16;
const NETLINK_AUDIT = 9;
const EINVAL = 22;

/**
 * useradd, groupadd, passwd and the other shadow tools open an audit socket and abort unless that
 * fails with EINVAL, EPROTONOSUPPORT or EAFNOSUPPORT (which Dockerfiles meet in nearly every
 * `RUN useradd`). The system profile answers EINVAL for it without CAP_AUDIT_WRITE; a default deny
 * would answer ENOSYS. runsc ignores errnoRet (EPERM, still fatal to useradd), so there the call
 * goes to the sentry, whose own netlink has no audit protocol and answers EPROTONOSUPPORT without
 * asking the host.
 */
function auditSocketRule(honoursErrnoRet: boolean): SeccompRule {
  const args = [
    { index: 0, value: AF_NETLINK, valueTwo: 0, op: 'SCMP_CMP_EQ' },
    { index: 2, value: NETLINK_AUDIT, valueTwo: 0, op: 'SCMP_CMP_EQ' },
  ];
  return honoursErrnoRet ? { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: EINVAL, args } : { names: ['socket'], action: 'SCMP_ACT_ALLOW', args };
}

function namespaceRules(name: string, flags: number[]): SeccompRule[] {
  const mask = flags.reduce((a, f) => a | f, 0) >>> 0;
  return [
    { names: [name], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: mask, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ...flags.map((f): SeccompRule => ({
      names: [name],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: EPERM,
      args: [{ index: 0, value: f, valueTwo: f, op: 'SCMP_CMP_MASKED_EQ' }],
    })),
  ];
}

/** mknod(at) may make files, FIFOs and sockets, never device nodes (mode is arg `modeArg`). */
function mknodRules(name: string, modeArg: number): SeccompRule[] {
  const type = (t: number, action: SeccompRule['action']): SeccompRule => ({
    names: [name],
    action,
    ...(action === 'SCMP_ACT_ERRNO' ? { errnoRet: EPERM } : {}),
    args: [{ index: modeArg, value: S_IFMT, valueTwo: t, op: 'SCMP_CMP_MASKED_EQ' }],
  });
  return [...MKNOD_ALLOWED_TYPES.map((t) => type(t, 'SCMP_ACT_ALLOW')), type(0o020000, 'SCMP_ACT_ERRNO'), type(0o060000, 'SCMP_ACT_ERRNO')];
}

/** Every syscall name the profile allows without conditions (for tests and the threat model). */
export function unconditionallyAllowed(profile: OciSeccomp): Set<string> {
  return new Set(profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
}

/**
 * The profile in the line format of airlock-seccomp-compile (packages/agent/native), which turns it
 * into the BPF program bubblewrap loads: the same policy as runc's, compiled by libseccomp.
 */
export function compilerPolicy(profile: OciSeccomp): string {
  const arch: Record<string, string> = { SCMP_ARCH_X86_64: 'x86_64', SCMP_ARCH_X86: 'x86', SCMP_ARCH_X32: 'x32' };
  const lines = [`default ${profile.defaultErrnoRet}`, ...profile.architectures.map((a) => `arch ${arch[a] ?? a}`)];
  for (const rule of profile.syscalls) {
    const args = (rule.args ?? []).map((a) => `${a.index} ${a.op.replace(/^SCMP_CMP_/, '')} ${a.value} ${a.valueTwo}`).join(' ');
    for (const name of rule.names) {
      const head = rule.action === 'SCMP_ACT_ALLOW' ? `allow ${name}` : `errno ${rule.errnoRet ?? EPERM} ${name}`;
      lines.push(args ? `${head} ${args}` : head);
    }
  }
  return `${lines.join('\n')}\n`;
}
