import { processConformance } from '../test/process-conformance.js';

processConformance({ runtime: 'bwrap', rootInside: false });
