/**
 * @module log
 * Structured logging (pino). Sandbox env values and API keys are never passed to the logger; the
 * redact list is a second line of defence.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from './config.js';

export type { Logger };

/**
 * Lines are JSON (one object per line, for a collector) unless they go to a terminal, where a person
 * reads them: then pino-pretty renders them, in-process and synchronously (no worker thread).
 */
export function createLogger(level: Config['logLevel'], format: Config['observe']['logFormat'] = 'auto'): Logger {
  const options = {
    level,
    base: null,
    redact: { paths: ['env', '*.env', 'apiKey', '*.apiKey', 'authorization', '*.authorization'], censor: '[redacted]' },
  };
  const usePretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  return usePretty
    ? pino(
        options,
        pretty({
          colorize: process.stdout.isTTY === true,
          sync: true,
          singleLine: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
          // A request reads as `GET /v1/sandboxes/:id 200 3.1ms`, its other fields after it.
          messageFormat: (l, key) => (l[key] === 'request' ? `${String(l.method)} ${String(l.route)} ${String(l.status)} ${String(l.ms)}ms` : String(l[key])),
        }),
      )
    : pino(options);
}
