import { codeConformance } from '@airlock/testkit/code-conformance.js';

codeConformance({
  runtime: 'gvisor',
  bombStopsSandbox:
    "a fork bomb's host tasks (about 20 per guest process) or the sentry's memory can end the sentry, and with it the sandbox, before the guest's own limit refuses a fork (security probe A1 allows the same)",
});
