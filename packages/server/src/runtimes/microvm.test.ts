import { runtimeConformance } from '../test/conformance.js';

runtimeConformance({
  runtime: 'microvm',
  skip: [
    {
      test: 'runs root inside as an unprivileged host uid',
      reason:
        "a microVM's boundary is its own kernel: guest processes are not host processes, so there is no host uid to check; the host process, QEMU, runs as the sandbox's unprivileged uid (microvm-jail.test.ts)",
    },
  ],
});
