import { processConformance } from '@airlock/testkit/process-conformance.js';

processConformance({ runtime: 'bwrap', rootInside: false });
