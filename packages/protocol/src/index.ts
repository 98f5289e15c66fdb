/**
 * @module @airlock/protocol
 * The wire contract between Airlock's server and its clients: schemas, types, error codes and
 * states. No logic and no I/O live here.
 */
export * from './errors.js';
export * from './states.js';
export * from './sandbox.js';
export * from './exec.js';
export * from './files.js';
export * from './processes.js';
export * from './files-ops.js';
export * from './images.js';
export * from './image-build.js';
export * from './pools.js';
export * from './network.js';
export * from './tenancy.js';
export * from './observe.js';

export * from './health.js';
export * from './code.js';
