import { realRuntimeSubject } from '../test/real-runtime-subject.js';
import { runtimeContract } from './runtime-contract.js';

runtimeContract(realRuntimeSubject('bwrap'));
