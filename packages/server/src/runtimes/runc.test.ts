import { runtimeConformance } from '../test/conformance.js';

runtimeConformance({ runtime: 'runc' });
