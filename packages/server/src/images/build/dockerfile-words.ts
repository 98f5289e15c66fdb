/**
 * @module dockerfile-words
 * Docker's word rules for the instructions that take environment replacement (FROM, ENV, ARG,
 * LABEL, COPY, ADD, WORKDIR, USER, EXPOSE): quotes are removed ('…' literal, "…" with `$`
 * expanded), the escape character quotes the next character, and `$VAR`, `${VAR}`,
 * `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?message}` are replaced. An
 * unset variable is empty, as in Docker. Other `${…}` forms are refused rather than guessed.
 */
import { DockerfileError } from './dockerfile-lexer.js';

/** Looks a variable up; undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

export interface WordOptions {
  escape: string;
  line: number;
  /** Validation before any build state exists: `${VAR:?}` does not fail. */
  lenient?: boolean;
}

const NAME_CHAR = /[A-Za-z0-9_]/;

/** Processes one word (no splitting): quotes removed, variables expanded. */
export function expandWord(text: string, env: Lookup, o: WordOptions): string {
  const words = process(text, env, o, false);
  return words.join('');
}

/** Splits on unquoted whitespace, then processes each word. Empty input gives no words. */
export function expandWords(text: string, env: Lookup, o: WordOptions): string[] {
  return process(text, env, o, true);
}

function process(text: string, env: Lookup, o: WordOptions, split: boolean): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const esc = o.escape;
  while (i < text.length) {
    const ch = text[i]!;
    if (split && /\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (ch === esc) {
      if (i + 1 < text.length) word += text[i + 1];
      else word += ch;
      i += 2;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new DockerfileError(`unterminated single quote in ${JSON.stringify(text)}`, o.line);
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new DockerfileError(`unterminated double quote in ${JSON.stringify(text)}`, o.line);
        const c = text[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === esc && i + 1 < text.length && ['"', '$', esc].includes(text[i + 1]!)) {
          word += text[i + 1];
          i += 2;
        } else if (c === '$') {
          const r = variable(text, i, env, o);
          word += r.value;
          i = r.next;
        } else {
          word += c;
          i++;
        }
      }
    } else if (ch === '$') {
      const r = variable(text, i, env, o);
      word += r.value;
      i = r.next;
    } else {
      word += ch;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Expands the variable reference at text[i] === '$'. */
function variable(text: string, i: number, env: Lookup, o: WordOptions): { value: string; next: number } {
  const next = text[i + 1];
  if (next === '{') {
    const close = matchingBrace(text, i + 1, o);
    const inner = text.slice(i + 2, close);
    return { value: braced(inner, env, o), next: close + 1 };
  }
  if (next !== undefined && NAME_CHAR.test(next)) {
    let j = i + 1;
    while (j < text.length && NAME_CHAR.test(text[j]!)) j++;
    return { value: env(text.slice(i + 1, j)) ?? '', next: j };
  }
  return { value: '$', next: i + 1 };
}

function matchingBrace(text: string, open: number, o: WordOptions): number {
  let depth = 0;
  for (let j = open; j < text.length; j++) {
    if (text[j] === o.escape) {
      j++;
      continue;
    }
    if (text[j] === '{') depth++;
    else if (text[j] === '}' && --depth === 0) return j;
  }
  throw new DockerfileError(`missing } in ${JSON.stringify(text)}`, o.line);
}

function braced(inner: string, env: Lookup, o: WordOptions): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(inner);
  if (!m) throw new DockerfileError(`unsupported variable form \${${inner}} (use \${VAR}, \${VAR:-default}, \${VAR:+alt} or \${VAR:?message})`, o.line);
  const [, name, op, word = ''] = m;
  const value = env(name!);
  if (op === undefined) return value ?? '';
  const unset = op.startsWith(':') ? value === undefined || value === '' : value === undefined;
  const alt = () => expandWord(word, env, o);
  switch (op.replace(':', '')) {
    case '-':
      return unset ? alt() : value!;
    case '+':
      return unset ? '' : alt();
    default:
      if (unset && !o.lenient) throw new DockerfileError(`${name} is required: ${alt() || 'it is not set'}`, o.line);
      return value ?? '';
  }
}
