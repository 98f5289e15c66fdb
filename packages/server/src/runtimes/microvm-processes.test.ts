import { processConformance } from '@airlock/testkit/process-conformance.js';

processConformance({
  runtime: 'microvm',
  bigFile:
    "a microVM's /home/user and /tmp are guest tmpfs in its memory until the block-device root (docs/microvm.md), so 1 GiB does not fit a default guest; the server's streaming path is the same as on the other runtimes, where it is measured",
});
