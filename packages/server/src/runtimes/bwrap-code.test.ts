import { codeConformance } from '../test/code-conformance.js';

codeConformance({ runtime: 'bwrap' });
