/**
 * @module commands/serve
 * `airlock serve`: start the server in this process. The server package is loaded only here, so
 * the other verbs never pay for it (nor need its native dependencies).
 */
import { Command } from 'commander';
import { parseInteger } from '../options.js';

export interface ServeOverrides {
  host?: string;
  port?: number;
  dataDir?: string;
  logLevel?: string;
  /** `runtime:size` specs; the server validates them (one place knows the runtimes and the limits). */
  pools?: string[];
  /** Resolvers the platform DNS asks for sandboxes (default: the host's resolv.conf). */
  dnsUpstream?: string[];
}

/** The part of `@airlock/server` this command uses. */
interface ServerModule {
  startServer(overrides: ServeOverrides): Promise<{ url: string; close(): Promise<void> }>;
}

/** Only the options the user gave; the server has its own defaults and environment. */
export function serveOverrides(options: ServeOverrides): ServeOverrides {
  const out: ServeOverrides = {};
  if (options.host !== undefined) out.host = options.host;
  if (options.port !== undefined) out.port = options.port;
  if (options.dataDir !== undefined) out.dataDir = options.dataDir;
  if (options.logLevel !== undefined) out.logLevel = options.logLevel;
  if (options.pools !== undefined) out.pools = options.pools;
  if (options.dnsUpstream !== undefined) out.dnsUpstream = options.dnsUpstream;
  return out;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('start the Airlock server')
    .option('--host <host>', 'address to listen on (default: 127.0.0.1)')
    .option('--port <port>', 'TCP port (default: 7070)', parseInteger)
    .option('--data-dir <dir>', 'state directory (default: AIRLOCK_DATA_DIR, then /var/lib/airlock)')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: info)')
    .option(
      '--pool <runtime:size>',
      'keep <size> started sandboxes of <runtime> (default image and resources) ready for creates; repeatable (default: AIRLOCK_POOLS, then the config file)',
      (spec: string, previous: string[] | undefined) => [...(previous ?? []), spec],
    )
    .option(
      '--dns-upstream <ip[:port]>',
      'resolver the platform DNS asks for sandboxes, repeatable (default: AIRLOCK_DNS_UPSTREAM, network.dnsUpstream in the config file, then /etc/resolv.conf)',
      (ip: string, previous: string[] | undefined) => [...(previous ?? []), ip],
    )
    .action(async (options: Omit<ServeOverrides, 'pools'> & { pool?: string[] }) => {
      // A variable specifier keeps tsc from needing the server's types to build the CLI.
      const specifier = '@airlock/server';
      const server = (await import(specifier)) as ServerModule;
      const { pool, ...rest } = options;
      const running = await server.startServer(serveOverrides({ ...rest, ...(pool ? { pools: pool } : {}) }));
      await new Promise<void>((resolve) => {
        let closing = false;
        const stop = () => {
          if (closing) process.exit(1);
          closing = true;
          resolve();
        };
        process.on('SIGINT', stop).on('SIGTERM', stop);
      });
      await running.close();
      process.exit(0);
    });
}
