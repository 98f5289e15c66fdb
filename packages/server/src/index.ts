/**
 * @module @airlock/server
 * The Airlock daemon. `startServer` is what `airlock serve` runs.
 */
export { startServer, type RunningServer } from './server.js';
export { loadConfig, ConfigError, type Config, type ConfigOverrides } from './config.js';
export { CREDENTIALS_FILE } from './auth/api-keys.js';
