/**
 * @module probe-catalog
 * What each isolation probe attempts (security-catalog.md groups B, C, E, H, and J for the agent
 * channel), in the words the scoreboard prints. The probes themselves are in probes.py and
 * channel-probes.py; host-side probes in host-side-probes.ts.
 */

export type ProbeGroup = 'A' | 'B' | 'C' | 'E' | 'H' | 'J';

export const PROBE_TITLES: Record<string, string> = {
  'B1.canary-read': 'read a host canary file (direct, /proc/1/root, /proc/*/root)',
  'B1.host-shadow': "read the host's /etc/shadow",
  'B1.data-dir': "list the server's data directory",
  'B2.canary-write': 'create a file in a host directory (checked on the host)',
  'B2.core-pattern': 'write /proc/sys/kernel/core_pattern (its own value)',
  'B2.modprobe': 'write /proc/sys/kernel/modprobe (its own value)',
  'B2.sysrq': 'open /proc/sysrq-trigger for writing',
  'B2.sysfs': 'write a /sys attribute (its own value)',
  'B2.release-agent': 'open a cgroup release_agent for writing',
  'B3.kcore': 'read /proc/kcore',
  'B3.kallsyms': 'read kernel symbol addresses from /proc/kallsyms',
  'B3.config-gz': 'read /proc/config.gz',
  'B3.proc-keys': 'read /proc/keys',
  'B4.devices': 'find device nodes beyond null/zero/full/random/urandom/tty/ptmx/pts',
  'B4.mknod': 'mknod a character device',
  'B5.leaked-fds': 'inherit a file descriptor other than 0, 1, 2',
  'B6.exe-write': 'open /proc/self/exe or /proc/1/exe for writing (runc CVE-2019-5736 class)',
  'C1.mount': 'mount a tmpfs',
  'C1.umount2': 'umount2',
  'C1.pivot-root': 'pivot_root',
  'C1.unshare-user': 'unshare(CLONE_NEWUSER): a nested user namespace',
  'C1.unshare-mnt': 'unshare(CLONE_NEWNS)',
  'C1.unshare-net': 'unshare(CLONE_NEWNET)',
  'C1.setns': "setns into init's mount namespace",
  'C2.init-module': 'init_module',
  'C2.finit-module': 'finit_module',
  'C2.delete-module': 'delete_module',
  'C2.kexec-load': 'kexec_load',
  'C2.reboot': 'reboot (with wrong magic numbers)',
  'C2.swapon': 'swapon',
  'C2.acct': 'acct',
  'C3.keyring': 'add a key to a kernel keyring / keyctl',
  'C4.perf-event-open': 'perf_event_open',
  'C4.bpf': 'bpf',
  'C4.userfaultfd': 'userfaultfd',
  'C4.io-uring': 'io_uring_setup',
  'C4.ptrace': 'ptrace(PTRACE_TRACEME)',
  'C4.process-vm-readv': 'process_vm_readv',
  'C4.kcmp': 'kcmp',
  'C4.name-to-handle-at': 'name_to_handle_at',
  'C4.open-by-handle-at': 'open_by_handle_at ("shocker")',
  'C6.raw-socket': 'create a raw IP socket',
  'C6.packet-socket': 'create an AF_PACKET socket',
  'E1.processes': "see or signal another sandbox's processes",
  'E4.image-write': 'write into what every sandbox shares: the image root, /usr, /etc, the agent (checked on the host)',
  'E3.host-uid': 'the strongest user inside runs as host root, the server uid or a uid another sandbox has',
  'H1.create-env': 'an env value given at create shows in server logs, API responses, host argv or runtime files',
  'H3.server-env': "the server's environment is visible inside",
};

/**
 * Group J: a hostile sandbox against its own agent (PID 1) and the channel to the server, each as
 * root and as the default user (ids `<id>-root`, `<id>-user`). The order is the order they run in.
 */
export const CHANNEL_TITLES: Record<string, string> = {
  'J2.mem': 'open /proc/1/mem for writing and write one of its bytes back',
  'J3.ptrace': 'ptrace PID 1 (PTRACE_SEIZE)',
  'J5.stop': 'stop PID 1 (SIGSTOP), then continue it',
  'J4.signals': 'signal PID 1: TERM, INT, HUP, PIPE, USR1, USR2, ALRM, SEGV, then KILL',
  'J1.frames': 'write crafted and random frames into every fd of PID 1 it can open (/proc/1/fd/*)',
};

export function titleOf(id: string): string {
  return PROBE_TITLES[id] ?? CHANNEL_TITLES[id.replace(/-(root|user)$/, '')] ?? '';
}

export const IN_SANDBOX_PROBES = Object.keys(PROBE_TITLES).filter((id) => !['E3.host-uid', 'H1.create-env'].includes(id));

export function groupOf(id: string): ProbeGroup {
  return id[0] as ProbeGroup;
}
