import { realRuntimeSubject } from '@airlock/testkit/real-runtime-subject.js';
import { runtimeContract } from './runtime-contract.js';

runtimeContract(realRuntimeSubject('bwrap'));
