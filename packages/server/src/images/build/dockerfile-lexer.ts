/**
 * @module dockerfile-lexer
 * Splits a Dockerfile into raw instructions the way Docker's parser does, before any variable is
 * known: parser directives at the top (`# escape=`` ` ``, `# syntax=` is accepted and ignored), line
 * continuations with the escape character, comment lines (also inside a continuation), and
 * heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) after RUN, COPY and ADD. Every instruction keeps the
 * line its keyword is on, so that every later error can name it.
 */

export class DockerfileError extends Error {
  override readonly name = 'DockerfileError';
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(line === undefined ? message : `Dockerfile line ${line}: ${message}`);
  }
}

export interface Heredoc {
  /** The terminator word (EOF). */
  name: string;
  /** The body, each line ending in a newline, leading tabs removed for `<<-`. */
  content: string;
  /** False when the word was quoted: no variable expansion in the body. */
  expand: boolean;
}

export interface RawInstruction {
  /** Upper-cased keyword: FROM, RUN, … */
  keyword: string;
  /** Everything after the keyword, continuations joined. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
  heredocs: Heredoc[];
}

export interface LexedDockerfile {
  escape: '\\' | '`';
  instructions: RawInstruction[];
}

const MAX_BYTES = 1024 * 1024;
const MAX_INSTRUCTIONS = 10_000;
const DIRECTIVE = /^#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(.*?)[ \t]*$/;
const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\2/g;
const HEREDOC_KEYWORDS = new Set(['RUN', 'COPY', 'ADD']);

export function lexDockerfile(text: string): LexedDockerfile {
  if (Buffer.byteLength(text) > MAX_BYTES) throw new DockerfileError(`the Dockerfile is over the ${MAX_BYTES}-byte limit`, undefined);
  if (text.includes('\0')) throw new DockerfileError('the Dockerfile contains a NUL byte', undefined);
  const lines = text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n');
  let i = 0;
  let escape: '\\' | '`' = '\\';
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== 'escape' && key !== 'syntax' && key !== 'check') break; // an unknown directive is a comment, and ends the directives
    if (seen.has(key)) throw new DockerfileError(`parser directive ${key} is given twice`, i + 1);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileError(`the escape directive must be \\ or \` (got ${JSON.stringify(m[2])})`, i + 1);
      escape = m[2];
    }
  }
  const instructions: RawInstruction[] = [];
  const isSkipped = (l: string) => l.trim() === '' || l.trimStart().startsWith('#');
  while (i < lines.length) {
    if (isSkipped(lines[i]!)) {
      i++;
      continue;
    }
    const line = i + 1;
    let joined = '';
    let current = lines[i++]!;
    for (;;) {
      const trimmed = current.replace(/[ \t]+$/, '');
      if (!trimmed.endsWith(escape)) {
        joined += current;
        break;
      }
      joined += trimmed.slice(0, -1);
      while (i < lines.length && isSkipped(lines[i]!)) i++;
      if (i >= lines.length) break;
      current = lines[i++]!;
    }
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(joined)!;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    const heredocs: Heredoc[] = [];
    if (HEREDOC_KEYWORDS.has(keyword)) {
      for (const h of args.matchAll(HEREDOC)) {
        const strip = h[1] === '-';
        const name = h[3]!;
        const body: string[] = [];
        for (;;) {
          if (i >= lines.length) throw new DockerfileError(`heredoc <<${name} is never terminated`, line);
          const l = strip ? lines[i++]!.replace(/^\t+/, '') : lines[i++]!;
          if (l === name) break;
          body.push(l);
        }
        heredocs.push({ name, content: body.map((l) => `${l}\n`).join(''), expand: h[2] === '' });
      }
    }
    instructions.push({ keyword, args, line, heredocs });
    if (instructions.length > MAX_INSTRUCTIONS) throw new DockerfileError(`the Dockerfile has more than ${MAX_INSTRUCTIONS} instructions`, line);
  }
  return { escape, instructions };
}
