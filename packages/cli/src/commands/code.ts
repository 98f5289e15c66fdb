/**
 * @module commands/code
 * `airlock code ID`: a REPL on a stateful code context of the sandbox (python by default), and
 * `airlock code ID --file cell.py` (or a cell piped on stdin): run one cell. Output streams to the
 * terminal; a result's text is printed; images (png, jpeg, svg, pdf) are saved as files in --out
 * and their names printed. Ctrl-C interrupts the running cell (the context keeps its state). A cell
 * that raised exits 1 (the traceback on stderr).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import type { CodeResult, Execution, Sandbox } from '@airlock/sdk';
import { clientFrom } from '../config.js';
import { parsePositive } from '../options.js';
import { readPipedStdin } from '../stdio.js';
import { addConnectionOptions, connectionFlags } from './shared.js';

interface CodeOptions {
  file?: string;
  language: 'python' | 'javascript' | 'bash';
  context?: string;
  out: string;
  timeout?: number;
}

const FILES: [keyof CodeResult, string, 'base64' | 'utf8'][] = [
  ['png', 'png', 'base64'],
  ['jpeg', 'jpg', 'base64'],
  ['svg', 'svg', 'utf8'],
  ['pdf', 'pdf', 'base64'],
];

export function codeCommand(): Command {
  const command = new Command('code')
    .description('a REPL on a stateful code context (or run one cell with --file); images are saved as files')
    .argument('<id>', 'sandbox id')
    .option('-f, --file <path>', 'run this file as one cell ("-": stdin) and exit')
    .addOption(new Option('-l, --language <language>', 'the language of the default context').choices(['python', 'javascript', 'bash']).default('python'))
    .option('--context <cid>', 'a context made by the API (default: the default context of the language)')
    .option('--out <dir>', 'where images are saved', '.')
    .option('--timeout <seconds>', "the cell's timeout", parsePositive);
  addConnectionOptions(command);
  return command.action(async (id: string, options: CodeOptions, self: Command) => {
    const sandbox = await clientFrom(connectionFlags(self)).sandboxes.get(id);
    const piped = options.file === undefined && !process.stdin.isTTY;
    if (options.file !== undefined || piped) {
      const code =
        options.file === undefined || options.file === '-'
          ? Buffer.from((await readPipedStdin()) ?? new Uint8Array()).toString('utf8')
          : readFileSync(options.file, 'utf8');
      const ex = await runCell(sandbox, code, options);
      process.exitCode = ex.error ? 1 : 0;
      return;
    }
    await repl(sandbox, options);
  });
}

async function runCell(sandbox: Sandbox, code: string, options: CodeOptions, handleSigint = true): Promise<Execution> {
  const context = options.context ?? `default-${options.language}`;
  // Ctrl-C interrupts the cell in the sandbox; the answer (a KeyboardInterrupt) still comes back.
  const onSigint = () => void sandbox.code.interrupt(context).catch(() => {});
  if (handleSigint) process.on('SIGINT', onSigint);
  let saved = 0;
  try {
    const ex = await sandbox.runCode(code, {
      ...(options.context ? { context: options.context } : { language: options.language }),
      ...(options.timeout !== undefined ? { timeoutMs: Math.round(options.timeout * 1000) } : {}),
      onStdout: (t) => process.stdout.write(t),
      onStderr: (t) => process.stderr.write(t),
      onResult: (r) => {
        const files = FILES.filter(([k]) => typeof r[k] === 'string');
        for (const [key, ext, encoding] of files) {
          mkdirSync(options.out, { recursive: true });
          const name = join(options.out, `result-${Date.now()}-${++saved}.${ext}`);
          writeFileSync(name, Buffer.from(r[key] as string, encoding));
          process.stdout.write(`[${key} saved as ${name}]\n`);
        }
        if (r.text !== undefined && (r.isMainResult || files.length === 0)) process.stdout.write(`${r.text}\n`);
      },
    });
    if (ex.error) process.stderr.write(ex.error.traceback || `${ex.error.name}: ${ex.error.value}\n`);
    if (ex.stdoutTruncated || ex.stderrTruncated) process.stderr.write('airlock: output was over the limit and cut\n');
    return ex;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/**
 * Lines are gathered until a blank line when the cell is open (a block, a bracket, a backslash).
 * The terminal stays in readline's raw mode while a cell runs, so Ctrl-C arrives as readline's
 * SIGINT: it interrupts the running cell, or clears the lines typed so far.
 */
async function repl(sandbox: Sandbox, options: CodeOptions): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const context = options.context ?? `default-${options.language}`;
  let lines: string[] = [];
  let count = 1;
  let running = false;
  const prompt = () => {
    rl.setPrompt(lines.length === 0 ? `In [${count}]: ` : '   ...: ');
    rl.prompt();
  };
  rl.on('SIGINT', () => {
    if (running) {
      void sandbox.code.interrupt(context).catch(() => {});
      return;
    }
    lines = [];
    process.stdout.write('\n');
    prompt();
  });
  const closed = new Promise<void>((resolve) => rl.on('close', resolve));
  // Ctrl-D while a cell runs: its output still comes before the REPL ends.
  let inflight: Promise<unknown> = Promise.resolve();
  rl.on('line', (line) => {
    if (running) return; // typed while a cell runs: not a cell of its own
    lines.push(line);
    const open = lines.length === 1 ? /[:\\([{,]\s*$/.test(line) : line.trim() !== '';
    if (open) return prompt();
    const code = lines.join('\n');
    lines = [];
    if (code.trim() === '') return prompt();
    running = true;
    inflight = runCell(sandbox, code, options, false)
      .then((ex) => {
        if (ex.executionCount !== null) count = ex.executionCount + 1;
      })
      .catch((e: Error) => process.stderr.write(`airlock: ${e.message}\n`))
      .finally(() => {
        running = false;
        prompt();
      });
  });
  prompt();
  await closed;
  await inflight;
  process.stdout.write('\n');
}
