/**
 * @module mcp/run-code
 * Running code for the MCP `run_code` tool. The server has no code interpreter route on this
 * branch, so code runs as an exec: Python through a small wrapper (`python3 -c`), shell with `sh -c`,
 * JavaScript with `node -e`. Images come back as MCP image content: every PNG, JPEG, GIF or SVG the
 * code leaves in $AIRLOCK_OUTPUT_DIR, and, for Python with matplotlib, every figure still open
 * (rendered with the Agg backend).
 */
import type { Sandbox } from '@airlock/sdk';

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

export interface CodeResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  reason: string;
  images: { mimeType: string; data: string; name: string }[];
}

export async function runCode(sb: Sandbox, language: Language, code: string, timeout: number | undefined): Promise<CodeResult> {
  const tag = Math.random().toString(36).slice(2, 10);
  const dir = `/tmp/airlock-mcp-${tag}`;
  const file = `${dir}/main.${language === 'python' ? 'py' : language === 'bash' ? 'sh' : 'js'}`;
  const out = `${dir}/out`;
  await sb.exec(['mkdir', '-p', out]);
  await sb.files.write(file, new TextEncoder().encode(code));
  const argv = language === 'python' ? ['python3', '-c', PY_WRAPPER, file] : language === 'bash' ? ['bash', file] : ['node', file];
  try {
    const r = await sb.exec(argv, { env: { AIRLOCK_OUTPUT_DIR: out }, cwd: dir, ...(timeout !== undefined ? { timeout } : {}) });
    const images: CodeResult['images'] = [];
    for (const entry of (await sb.files.list(out)).slice(0, 64)) {
      const ext = /\.([a-z]+)$/i.exec(entry.name)?.[1]?.toLowerCase();
      const mimeType = ext ? MIME[ext] : undefined;
      if (!mimeType || entry.type !== 'file' || entry.size > MAX_IMAGE_BYTES || images.length >= MAX_IMAGES) continue;
      const bytes = await sb.files.read(`${out}/${entry.name}`);
      images.push({ mimeType, data: Buffer.from(bytes).toString('base64'), name: entry.name });
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, reason: r.reason, images };
  } finally {
    await sb.exec(['rm', '-rf', dir]).catch(() => {});
  }
}
