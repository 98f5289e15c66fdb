import { runtimeConformance } from '@airlock/testkit/conformance.js';

runtimeConformance({
  runtime: 'gvisor',
  skip: [
    {
      test: 'runs root inside as an unprivileged host uid',
      reason: "gVisor's boundary is its user-space kernel: guest processes are not host processes, so there is no host uid to check",
    },
  ],
});
