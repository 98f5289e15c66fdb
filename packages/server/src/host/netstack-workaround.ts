/**
 * @module netstack-workaround
 * gVisor's own network stack (`--network=sandbox`) with Debian's runsc 20221219 on kernels ≥ 6.11.
 *
 * runsc refuses to start a sandbox with a network "in the root network namespace", and it decides
 * that it is in the root namespace when `/proc/sys/net/core/rmem_default` exists; since Linux 6.11
 * that file exists in every namespace (gVisor issue 10704, fixed upstream in release-20240807.0).
 * The workaround (platform-notes §3, tested here): run runsc in a private mount namespace with an
 * empty read-only tmpfs over `/proc/sys/net`, so the file is gone for runsc only. Its sandbox and
 * gofer processes inherit that mount namespace; nothing else on the host sees the mount, and it
 * disappears with the last of them. `ip netns exec` is no substitute: it remounts /sys, and runsc
 * then fails to find its cgroups.
 *
 * runsc takes the addresses and routes off the namespace's eth0 when netstack takes the link over,
 * so a namespace serves exactly one sandbox (the network service never reuses one).
 */

/** The argv that runs `argv` (a runsc command) with /proc/sys/net masked. */
export function withNetstackWorkaround(argv: readonly string[]): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '/bin/sh',
    '-c',
    'mount -t tmpfs -o size=4k,ro,nosuid,nodev,noexec airlock-sysnet /proc/sys/net && exec "$@"',
    'airlock-runsc',
    ...argv,
  ];
}
