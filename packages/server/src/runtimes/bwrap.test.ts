import { runtimeConformance } from '@airlock/testkit/conformance.js';

runtimeConformance({
  runtime: 'bwrap',
  // One host uid per sandbox, mapped to `user`: bwrap runs unprivileged, without a subuid range.
  rootInside: false,
});
