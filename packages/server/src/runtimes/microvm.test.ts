import { runtimeConformance } from '@airlock/testkit/conformance.js';

runtimeConformance({
  runtime: 'microvm',
  skip: [
    {
      test: 'writes go to disk under the disk limit, not to memory',
      reason:
        "virtiofsd serves only read-only trees, so a microVM's /tmp, /var/tmp, /root and /home/user are guest tmpfs bounded by its memory; the disk-limited writable layer comes with the block-device root (docs/microvm.md, Not yet)",
    },
    {
      test: 'runs root inside as an unprivileged host uid',
      reason:
        "a microVM's boundary is its own kernel: guest processes are not host processes, so there is no host uid to check; the host process, QEMU, runs as the sandbox's unprivileged uid (microvm-jail.test.ts)",
    },
  ],
});
