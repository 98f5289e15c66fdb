/**
 * @module commands/mcp
 * `airlock mcp [--http [HOST:]PORT] [--keep]`: an MCP server (the official SDK) whose tools drive
 * sandboxes with this CLI's key. Over stdio (what desktop clients spawn) by default, or streamable
 * HTTP. Sandboxes a session created are destroyed when it ends, unless kept. docs/mcp.md.
 */
import { Command } from 'commander';
import { clientFrom } from '../config.js';
import { VERSION } from '../version.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[^:]+):)?(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`--http takes [HOST:]PORT, not ${spec}`);
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}

export function mcpCommand(): Command {
  const command = new Command('mcp')
    .description('serve the Model Context Protocol (stdio, or streamable HTTP with --http) so an agent can drive sandboxes')
    .option('--http <listen>', 'serve streamable HTTP at [HOST:]PORT/mcp instead of stdio (HOST default 127.0.0.1)')
    .option('--keep', "keep the session's sandboxes when it ends (default: destroy them)");
  addConnectionOptions(command);
  return command.action(async (options: { http?: string; keep?: boolean }, self: Command) => {
    const flags = connectionFlags(self);
    const keep = options.keep === true;
    if (options.http !== undefined) {
      const listen = parseListen(options.http);
      // The MCP SDK (and zod, ajv) load only for this command: every other command starts without them.
      const { serveMcpHttp } = await import('../mcp/http-transport.js');
      const served = await serveMcpHttp({ client: () => clientFrom(flags), ...listen, keep, token: process.env.AIRLOCK_MCP_TOKEN, version: VERSION });
      process.stderr.write(`airlock: MCP over streamable HTTP at ${served.url}\n`);
      if (process.env.AIRLOCK_MCP_TOKEN === undefined) process.stderr.write(`airlock: send Authorization: Bearer ${served.token}\n`);
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      });
      await served.close();
      return;
    }
    // stdout is the protocol: nothing else may be written to it.
    const [{ StdioServerTransport }, { McpSession }, { buildMcpServer }] = await Promise.all([
      import('@modelcontextprotocol/sdk/server/stdio.js'),
      import('../mcp/session.js'),
      import('../mcp/tools.js'),
    ]);
    const session = new McpSession(clientFrom(flags), keep);
    const transport = new StdioServerTransport();
    const ended = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
      process.stdin.once('end', () => resolve());
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
    });
    await buildMcpServer(session, VERSION).connect(transport);
    await ended;
    const destroyed = await session.close();
    if (destroyed.length > 0) process.stderr.write(`airlock: destroyed this session's sandboxes: ${destroyed.join(', ')}\n`);
    await transport.close().catch(() => {});
  });
}
