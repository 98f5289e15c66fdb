/**
 * A server in its own process, for tests that kill it (crash recovery) or read its logs (security).
 * Prints `AIRLOCK_TEST_URL=<url>` once it listens. usage: server-process.js DATA_DIR [LOG_LEVEL]
 */
import { startServer } from '@airlock/server/internal/server.js';
import { TEST_KEY } from './harness.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: server-process.js DATA_DIR');
const logLevel = (process.argv[3] ?? 'warn') as 'warn';
const server = await startServer({ dataDir, port: 0, apiKey: TEST_KEY, logLevel }, { print: () => {} });
process.stdout.write(`AIRLOCK_TEST_URL=${server.url}\n`);
process.on('SIGTERM', () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
