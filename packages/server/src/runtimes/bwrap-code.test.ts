import { codeConformance } from '@airlock/testkit/code-conformance.js';

codeConformance({ runtime: 'bwrap' });
