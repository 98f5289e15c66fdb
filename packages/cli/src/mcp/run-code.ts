/**
 * @module mcp/run-code
 * Running code for the MCP `run_code` tool: in the sandbox's code interpreter (a stateful context
 * per language; its rich results, matplotlib figures among them, come back as MCP image content),
 * and, where the server has no interpreter route (an older server answers 404 for it), as an exec:
 * Python through a small wrapper, bash and node on a file. Either way, every PNG, JPEG, GIF or SVG
 * the code leaves in $AIRLOCK_OUTPUT_DIR comes back as an image too.
 */
import type { CodeResult, Execution } from '@airlock/protocol';
import { NotFoundError, type Sandbox } from '@airlock/sdk';

export const LANGUAGES = ['python', 'bash', 'javascript'] as const;
export type Language = (typeof LANGUAGES)[number];

const MAX_IMAGES = 8;
const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
const MIME: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', svg: 'image/svg+xml' };

/** Runs the user's code (read from a file, so it is never quoted into a command line), then saves open figures. */
const PY_WRAPPER = `
import os, runpy, sys
out = os.environ["AIRLOCK_OUTPUT_DIR"]
os.environ.setdefault("MPLBACKEND", "Agg")
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
finally:
    if "matplotlib.pyplot" in sys.modules:
        plt = sys.modules["matplotlib.pyplot"]
        for n in plt.get_fignums():
            plt.figure(n).savefig(os.path.join(out, "figure-%d.png" % n))
`;

export interface CodeRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  reason: string;
  images: { mimeType: string; data: string; name: string }[];
}

/** Through the interpreter; undefined when the server has no interpreter route. */
async function viaInterpreter(sb: Sandbox, language: Language, code: string, timeout: number | undefined, out: string): Promise<CodeRun | undefined> {
  let ex: Execution;
  try {
    // The output directory is set in the context's own environment (a cell has no env of its own).
    await sb.exec(['mkdir', '-p', out]);
    const prelude =
      language === 'python'
        ? `import os as _o; _o.environ["AIRLOCK_OUTPUT_DIR"] = ${JSON.stringify(out)}; del _o\n`
        : language === 'bash'
          ? `export AIRLOCK_OUTPUT_DIR=${JSON.stringify(out)}\n`
          : `process.env.AIRLOCK_OUTPUT_DIR = ${JSON.stringify(out)};\n`;
    ex = await sb.runCode(prelude + code, { language, ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}) });
  } catch (e) {
    if (e instanceof NotFoundError && /no route/.test(e.message)) return undefined;
    throw e;
  }
  const images = ex.results.flatMap(resultImages);
  const texts = ex.results.filter((r) => r.text !== undefined && (r.isMainResult || (!r.png && !r.jpeg && !r.svg))).map((r) => r.text!);
  const stderr = ex.logs.stderr.join('') + (ex.error ? `${ex.error.traceback || `${ex.error.name}: ${ex.error.value}`}\n` : '');
  return {
    stdout: ex.logs.stdout.join('') + (texts.length ? `${texts.join('\n')}\n` : ''),
    stderr,
    exitCode: ex.error ? 1 : 0,
    reason: ex.error ? `error: ${ex.error.name}` : 'ok',
    images: images.slice(0, MAX_IMAGES),
  };
}

function resultImages(r: CodeResult, i: number): CodeRun['images'] {
  if (r.png) return [{ mimeType: 'image/png', data: r.png, name: `result-${i}.png` }];
  if (r.jpeg) return [{ mimeType: 'image/jpeg', data: r.jpeg, name: `result-${i}.jpeg` }];
  if (r.svg) return [{ mimeType: 'image/svg+xml', data: Buffer.from(r.svg).toString('base64'), name: `result-${i}.svg` }];
  return [];
}

export async function runCode(sb: Sandbox, language: Language, code: string, timeout: number | undefined): Promise<CodeRun> {
  const tag = Math.random().toString(36).slice(2, 10);
  const dir = `/tmp/airlock-mcp-${tag}`;
  const file = `${dir}/main.${language === 'python' ? 'py' : language === 'bash' ? 'sh' : 'js'}`;
  const out = `${dir}/out`;
  try {
    const interpreted = await viaInterpreter(sb, language, code, timeout, out);
    if (interpreted) {
      interpreted.images.push(...(await outputImages(sb, out, MAX_IMAGES - interpreted.images.length)));
      return interpreted;
    }
  } finally {
    await sb.exec(['rm', '-rf', dir]).catch(() => {});
  }
  await sb.exec(['mkdir', '-p', out]);
  await sb.files.write(file, new TextEncoder().encode(code));
  const argv = language === 'python' ? ['python3', '-c', PY_WRAPPER, file] : language === 'bash' ? ['bash', file] : ['node', file];
  try {
    const r = await sb.exec(argv, { env: { AIRLOCK_OUTPUT_DIR: out }, cwd: dir, ...(timeout !== undefined ? { timeout } : {}) });
    const images = await outputImages(sb, out, MAX_IMAGES);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, reason: r.reason, images };
  } finally {
    await sb.exec(['rm', '-rf', dir]).catch(() => {});
  }
}

/** Image files the code left in its output directory (bounded in count and size). */
async function outputImages(sb: Sandbox, out: string, room: number): Promise<CodeRun['images']> {
  const images: CodeRun['images'] = [];
  const entries = await sb.files.list(out).catch(() => []);
  for (const entry of entries.slice(0, 64)) {
    const ext = /\.([a-z]+)$/i.exec(entry.name)?.[1]?.toLowerCase();
    const mimeType = ext ? MIME[ext] : undefined;
    if (!mimeType || entry.type !== 'file' || entry.size > MAX_IMAGE_BYTES || images.length >= room) continue;
    const bytes = await sb.files.read(`${out}/${entry.name}`);
    images.push({ mimeType, data: Buffer.from(bytes).toString('base64'), name: entry.name });
  }
  return images;
}
