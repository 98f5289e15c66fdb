/**
 * @module log
 * Structured logging (pino). Sandbox env values and API keys are never passed to the logger; the
 * redact list is a second line of defence.
 */
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

export function createLogger(level: Config['logLevel']): Logger {
  return pino({
    level,
    base: null,
    redact: { paths: ['env', '*.env', 'apiKey', '*.apiKey', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}
