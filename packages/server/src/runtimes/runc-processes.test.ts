import { processConformance } from '../test/process-conformance.js';

processConformance({ runtime: 'runc' });
