import { processConformance } from '@airlock/testkit/process-conformance.js';

processConformance({
  runtime: 'gvisor',
  reopenStdout:
    "gVisor (2022) refuses chown and chmod of a pipe even to root (EPERM), so the agent cannot hand a process its stdout pipe: /dev/stdout stays root's, 0600; a process as another user writes to fd 1 but cannot reopen it",
});
