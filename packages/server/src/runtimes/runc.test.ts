import { runtimeConformance } from '@airlock/testkit/conformance.js';

runtimeConformance({ runtime: 'runc' });
