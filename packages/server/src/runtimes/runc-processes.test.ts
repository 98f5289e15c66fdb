import { processConformance } from '@airlock/testkit/process-conformance.js';

processConformance({ runtime: 'runc' });
