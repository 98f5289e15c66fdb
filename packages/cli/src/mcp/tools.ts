/**
 * @module mcp/tools
 * The MCP server's tools, on the Airlock SDK only (no server code): create a sandbox, run a
 * command, run code (images come back as image content), read, write and list files, the URL of an
 * exposed port, destroy. Every call acts with the key the MCP server was started with, so it can
 * reach exactly what that key can. Errors come back as tool errors (isError) with the server's code
 * and message, never as a crash of the MCP server.
 */
import { RUNTIMES } from '@airlock/protocol';
import { AirlockError, type Sandbox } from '@airlock/sdk';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { LANGUAGES, runCode } from './run-code.js';
import type { McpSession } from './session.js';

/** What a tool answers with at most, per text part: an agent's context is small. */
const MAX_TEXT = 64 * 1024;

function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}\n… [${s.length - MAX_TEXT} more characters cut]` : s;
}

function text(t: string, structured?: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: clip(t) }], ...(structured ? { structuredContent: structured } : {}) };
}

async function guard(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (e) {
    const msg = e instanceof AirlockError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    return { content: [{ type: 'text', text: msg }], isError: true };
  }
}

const SandboxId = z.string().min(1).max(128).describe('The sandbox id (from create_sandbox)');

export function buildMcpServer(session: McpSession, version: string): McpServer {
  const server = new McpServer(
    { name: 'airlock', version },
    {
      instructions:
        'Airlock runs untrusted code in isolated sandboxes. Create a sandbox, run commands or code in it, move files, and destroy it when done (sandboxes this session created are destroyed when it ends unless created with keep).',
    },
  );
  const client = session.client;
  const sandbox = (id: string): Promise<Sandbox> => client.sandboxes.get(id);

  server.registerTool(
    'create_sandbox',
    {
      title: 'Create a sandbox',
      description: 'Start an isolated Linux sandbox and return its id. Without network it has loopback only.',
      inputSchema: {
        runtime: z.enum(RUNTIMES).optional().describe("Isolation runtime (default: the server's preferred)"),
        image: z.string().max(512).optional().describe('Image reference (default: the built-in image with python3)'),
        cpu: z.number().positive().max(64).optional(),
        memoryMiB: z.number().int().min(32).optional(),
        timeoutSeconds: z.number().int().positive().optional().describe('Destroyed after this long'),
        network: z
          .union([z.literal('none'), z.literal('all'), z.array(z.string().max(253)).max(64)])
          .optional()
          .describe('"none", "all" (the internet, never private ranges), or domains to allow'),
        keep: z.boolean().optional().describe('Keep it after this MCP session ends'),
      },
    },
    (a) =>
      guard(async () => {
        const network = a.network === undefined ? undefined : { egress: Array.isArray(a.network) ? { allow: a.network } : a.network };
        const sb = await client.sandboxes.create({
          ...(a.runtime ? { runtime: a.runtime } : {}),
          ...(a.image ? { image: a.image } : {}),
          ...(a.cpu ? { cpu: a.cpu } : {}),
          ...(a.memoryMiB ? { memoryMiB: a.memoryMiB } : {}),
          ...(a.timeoutSeconds ? { timeout: a.timeoutSeconds } : {}),
          ...(network ? { network } : {}),
          metadata: { 'created-by': 'mcp' },
        });
        session.created(sb.id, a.keep === true);
        return text(`created sandbox ${sb.id} (${sb.info.runtime}, ${sb.info.cpu} CPU, ${sb.info.memoryMiB} MiB)`, {
          id: sb.id,
          runtime: sb.info.runtime,
          state: sb.info.state,
        });
      }),
  );

  server.registerTool(
    'run_command',
    {
      title: 'Run a command',
      description: 'Run a shell command in a sandbox (under sh -c) and return its exit code, stdout and stderr.',
      inputSchema: {
        sandboxId: SandboxId,
        command: z
          .string()
          .min(1)
          .max(64 * 1024),
        cwd: z.string().max(4096).optional(),
        env: z.record(z.string(), z.string()).optional(),
        timeoutSeconds: z.number().int().positive().max(3600).optional(),
      },
    },
    (a) =>
      guard(async () => {
        const sb = await sandbox(a.sandboxId);
        const r = await sb.exec(a.command, {
          ...(a.cwd ? { cwd: a.cwd } : {}),
          ...(a.env ? { env: a.env } : {}),
          ...(a.timeoutSeconds ? { timeout: a.timeoutSeconds } : {}),
        });
        const parts = [
          `exit code: ${r.exitCode ?? 'none'} (${r.reason})`,
          r.stdout ? `stdout:\n${r.stdout}` : '',
          r.stderr ? `stderr:\n${r.stderr}` : '',
        ].filter(Boolean);
        return text(parts.join('\n'), { exitCode: r.exitCode, reason: r.reason, stdout: clip(r.stdout), stderr: clip(r.stderr) });
      }),
  );

  server.registerTool(
    'run_code',
    {
      title: 'Run code',
      description:
        "Run Python, JavaScript or bash in the sandbox's code interpreter (state persists between calls per language). Rich results (matplotlib figures, images) and files saved in $AIRLOCK_OUTPUT_DIR (png, jpeg, gif, svg) come back as images.",
      inputSchema: {
        sandboxId: SandboxId,
        language: z.enum(LANGUAGES).default('python'),
        code: z
          .string()
          .min(1)
          .max(1024 * 1024),
        timeoutSeconds: z.number().int().positive().max(3600).optional(),
      },
    },
    (a) =>
      guard(async () => {
        const r = await runCode(await sandbox(a.sandboxId), a.language, a.code, a.timeoutSeconds);
        const summary = [
          `exit code: ${r.exitCode ?? 'none'} (${r.reason})`,
          r.stdout ? `stdout:\n${r.stdout}` : '',
          r.stderr ? `stderr:\n${r.stderr}` : '',
          r.images.length ? `images: ${r.images.map((i) => i.name).join(', ')}` : '',
        ].filter(Boolean);
        return {
          content: [{ type: 'text', text: clip(summary.join('\n')) }, ...r.images.map((i) => ({ type: 'image' as const, data: i.data, mimeType: i.mimeType }))],
          ...(r.exitCode !== 0 ? { isError: true } : {}),
        };
      }),
  );

  server.registerTool(
    'read_file',
    {
      title: 'Read a file',
      description: 'Read a file from a sandbox: text as text, images as images, other binary as base64.',
      inputSchema: { sandboxId: SandboxId, path: z.string().min(1).max(4096) },
    },
    (a) =>
      guard(async () => {
        const bytes = await (await sandbox(a.sandboxId)).files.read(a.path);
        const ext = /\.([a-z]+)$/i.exec(a.path)?.[1]?.toLowerCase();
        const image = ext === 'png' ? 'image/png' : ext === 'jpg' || ext === 'jpeg' ? 'image/jpeg' : ext === 'gif' ? 'image/gif' : undefined;
        if (image && bytes.length <= 5 * 1024 * 1024) return { content: [{ type: 'image', data: Buffer.from(bytes).toString('base64'), mimeType: image }] };
        const decoded = new TextDecoder('utf-8', { fatal: true });
        try {
          return text(decoded.decode(bytes));
        } catch {
          return text(`(binary, ${bytes.length} bytes, base64)\n${Buffer.from(bytes.subarray(0, 48 * 1024)).toString('base64')}`);
        }
      }),
  );

  server.registerTool(
    'write_file',
    {
      title: 'Write a file',
      description: 'Write a file in a sandbox (parent directories are created). Content is text unless encoding is base64.',
      inputSchema: {
        sandboxId: SandboxId,
        path: z.string().min(1).max(4096),
        content: z.string().max(16 * 1024 * 1024),
        encoding: z.enum(['utf8', 'base64']).default('utf8'),
      },
    },
    (a) =>
      guard(async () => {
        const data = a.encoding === 'base64' ? new Uint8Array(Buffer.from(a.content, 'base64')) : new TextEncoder().encode(a.content);
        const r = await (await sandbox(a.sandboxId)).files.write(a.path, data);
        return text(`wrote ${r.bytes} bytes to ${r.path}`);
      }),
  );

  server.registerTool(
    'list_files',
    {
      title: 'List files',
      description: 'List a directory in a sandbox: name, type, size.',
      inputSchema: { sandboxId: SandboxId, path: z.string().min(1).max(4096).default('/') },
    },
    (a) =>
      guard(async () => {
        const entries = await (await sandbox(a.sandboxId)).files.list(a.path);
        const lines = entries.map(
          (e) => `${e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-'} ${String(e.size).padStart(10)}  ${e.name}${e.type === 'dir' ? '/' : ''}`,
        );
        return text(lines.join('\n') || '(empty)', { entries: entries.slice(0, 1000).map((e) => ({ name: e.name, type: e.type, size: e.size })) });
      }),
  );

  server.registerTool(
    'port_url',
    {
      title: 'URL of an exposed port',
      description: 'The URL that reaches a TCP port a server in the sandbox listens on (the sandbox needs a network).',
      inputSchema: { sandboxId: SandboxId, port: z.number().int().min(1).max(65535), path: z.string().max(2048).optional() },
    },
    (a) => guard(async () => text(await (await sandbox(a.sandboxId)).ports.url(a.port, a.path ? { path: a.path } : {}))),
  );

  server.registerTool(
    'destroy_sandbox',
    {
      title: 'Destroy a sandbox',
      description: 'Destroy a sandbox and everything in it.',
      inputSchema: { sandboxId: SandboxId },
      annotations: { destructiveHint: true },
    },
    (a) =>
      guard(async () => {
        await (await sandbox(a.sandboxId)).destroy();
        session.forget(a.sandboxId);
        return text(`destroyed ${a.sandboxId}`);
      }),
  );

  return server;
}
