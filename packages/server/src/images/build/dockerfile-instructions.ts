/**
 * @module dockerfile-instructions
 * Turns a raw instruction into a typed one, with variables replaced from the build state at that
 * point (`env`). Only the instructions Airlock builds are accepted; any other keyword, flag or form
 * is an error that names it and its line, so a Dockerfile never builds into something other than
 * what it says.
 */
import { DockerfileError, type Heredoc, type RawInstruction } from './dockerfile-lexer.js';
import { expandWord, expandWords, type Lookup } from './dockerfile-words.js';

export type CommandForm = { form: 'exec'; argv: string[] } | { form: 'shell'; text: string };

export type Instruction =
  | { kind: 'FROM'; line: number; image: string; alias: string | undefined }
  | { kind: 'ARG'; line: number; args: { name: string; value: string | undefined }[] }
  | { kind: 'ENV'; line: number; pairs: [string, string][] }
  | { kind: 'LABEL'; line: number; pairs: [string, string][] }
  | { kind: 'RUN'; line: number; command: CommandForm; text: string }
  | { kind: 'SHELL'; line: number; shell: string[] }
  | { kind: 'CMD' | 'ENTRYPOINT'; line: number; command: CommandForm }
  | {
      kind: 'COPY' | 'ADD';
      line: number;
      from: string | undefined;
      chown: string | undefined;
      chmod: number | undefined;
      sources: string[];
      dest: string;
      heredocs: Heredoc[];
    }
  | { kind: 'WORKDIR'; line: number; path: string }
  | { kind: 'USER'; line: number; user: string }
  | { kind: 'EXPOSE'; line: number; ports: string[] };

export const SUPPORTED = ['FROM', 'ARG', 'ENV', 'LABEL', 'RUN', 'SHELL', 'CMD', 'ENTRYPOINT', 'COPY', 'ADD', 'WORKDIR', 'USER', 'EXPOSE'] as const;
const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface TypeOptions {
  escape: string;
  /** Validation pass: required variables (`${X:?}`) do not fail yet. */
  lenient?: boolean;
}

export function typeInstruction(raw: RawInstruction, env: Lookup, o: TypeOptions): Instruction {
  const line = raw.line;
  const wo = { escape: o.escape, line, lenient: o.lenient ?? false };
  const word = (s: string) => expandWord(s, env, wo);
  const words = (s: string) => expandWords(s, env, wo);
  const fail = (message: string) => new DockerfileError(message, line);
  const { flags, rest } = takeFlags(raw.args);
  const allowFlags = (allowed: string[]) => {
    for (const f of flags.keys()) {
      if (!allowed.includes(f)) throw fail(`${raw.keyword} --${f} is not supported${f === 'platform' ? ': Airlock builds for the host platform only' : ''}`);
    }
  };
  switch (raw.keyword) {
    case 'FROM': {
      allowFlags([]);
      const w = words(rest);
      if (w.length === 1 || (w.length === 3 && w[1]!.toUpperCase() === 'AS')) {
        const alias = w[2]?.toLowerCase();
        if (alias !== undefined && !/^[a-z][a-z0-9._-]*$/.test(alias))
          throw fail(`stage name ${JSON.stringify(w[2])} must start with a letter and hold only letters, digits, '.', '_' and '-'`);
        return { kind: 'FROM', line, image: w[0]!, alias };
      }
      throw fail('FROM takes an image and optionally "AS name"');
    }
    case 'ARG': {
      allowFlags([]);
      const args = words(rest).map((w) => {
        const eq = w.indexOf('=');
        const name = eq < 0 ? w : w.slice(0, eq);
        if (!ARG_NAME.test(name)) throw fail(`ARG name ${JSON.stringify(name)} is not a valid name`);
        return { name, value: eq < 0 ? undefined : w.slice(eq + 1) };
      });
      if (args.length === 0) throw fail('ARG needs a name');
      return { kind: 'ARG', line, args };
    }
    case 'ENV':
    case 'LABEL': {
      allowFlags([]);
      const pairs = keyValues(raw.keyword, rest, word, words, fail);
      return { kind: raw.keyword, line, pairs };
    }
    case 'RUN': {
      allowFlags([]);
      const json = jsonArray(rest);
      if (json) return { kind: 'RUN', line, command: { form: 'exec', argv: json }, text: rest };
      if (rest === '') throw fail('RUN needs a command');
      // `RUN <<EOF` alone: the heredoc is the script; otherwise the shell reads the heredocs itself.
      const only = raw.heredocs.length === 1 && isHeredocMarker(rest, new Set([raw.heredocs[0]!.name]));
      const text = only ? raw.heredocs[0]!.content : shellWithHeredocs(rest, raw.heredocs);
      return { kind: 'RUN', line, command: { form: 'shell', text }, text: rest };
    }
    case 'SHELL': {
      allowFlags([]);
      const json = jsonArray(rest);
      if (!json || json.length === 0) throw fail('SHELL must be a JSON array of strings, e.g. SHELL ["/bin/bash", "-c"]');
      return { kind: 'SHELL', line, shell: json };
    }
    case 'CMD':
    case 'ENTRYPOINT': {
      allowFlags([]);
      const json = jsonArray(rest);
      return { kind: raw.keyword, line, command: json ? { form: 'exec', argv: json } : { form: 'shell', text: rest } };
    }
    case 'COPY':
    case 'ADD': {
      allowFlags(raw.keyword === 'COPY' ? ['from', 'chown', 'chmod', 'link'] : ['chown', 'chmod', 'link']);
      const json = jsonArray(rest);
      const all = json ? json.map(word) : words(rest);
      const heredocNames = new Set(raw.heredocs.map((h) => h.name));
      const sources = all.slice(0, -1).filter((s) => !isHeredocMarker(s, heredocNames));
      const dest = all[all.length - 1];
      if (dest === undefined || (sources.length === 0 && raw.heredocs.length === 0)) throw fail(`${raw.keyword} needs at least one source and a destination`);
      const chmodText = flagValue(flags, 'chmod', word, fail);
      let chmod: number | undefined;
      if (chmodText !== undefined) {
        if (!/^[0-7]{3,4}$/.test(chmodText)) throw fail(`--chmod=${chmodText} must be an octal mode such as 755 or 0644`);
        chmod = parseInt(chmodText, 8);
      }
      const heredocs = raw.heredocs.map((h) => (h.expand ? { ...h, content: expandHeredoc(h.content, word) } : h));
      return {
        kind: raw.keyword,
        line,
        from: flagValue(flags, 'from', word, fail),
        chown: flagValue(flags, 'chown', word, fail),
        chmod,
        sources,
        dest,
        heredocs,
      };
    }
    case 'WORKDIR':
    case 'USER': {
      allowFlags([]);
      const value = word(rest);
      if (value === '') throw fail(`${raw.keyword} needs a value`);
      return raw.keyword === 'WORKDIR' ? { kind: 'WORKDIR', line, path: value } : { kind: 'USER', line, user: value };
    }
    case 'EXPOSE': {
      allowFlags([]);
      const ports = words(rest).map((p) => {
        const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (!m) throw fail(`EXPOSE ${JSON.stringify(p)} is not a port (80, 80/tcp, 53/udp)`);
        return `${m[1]}${m[2] ? `-${m[2]}` : ''}/${(m[3] ?? 'tcp').toLowerCase()}`;
      });
      if (ports.length === 0) throw fail('EXPOSE needs a port');
      return { kind: 'EXPOSE', line, ports };
    }
    default:
      throw fail(`${raw.keyword} is not supported by Airlock's builder (supported: ${SUPPORTED.join(', ')})`);
  }
}

/** Leading `--name=value` / `--name` flags of an instruction. */
function takeFlags(args: string): { flags: Map<string, string | undefined>; rest: string } {
  const flags = new Map<string, string | undefined>();
  let rest = args;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    flags.set(m[1]!.toLowerCase(), m[2]);
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}

function flagValue(flags: Map<string, string | undefined>, name: string, word: (s: string) => string, fail: (m: string) => Error): string | undefined {
  if (!flags.has(name)) return undefined;
  const raw = flags.get(name);
  if (raw === undefined || raw === '') throw fail(`--${name} needs a value (--${name}=…)`);
  return word(raw);
}

/** The exec (JSON) form: a JSON array of strings, or undefined for the shell form. */
export function jsonArray(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

function keyValues(kw: string, rest: string, word: (s: string) => string, words: (s: string) => string[], fail: (m: string) => Error): [string, string][] {
  const w = words(rest);
  if (w.length === 0) throw fail(`${kw} needs KEY=VALUE`);
  if (!w[0]!.includes('=')) {
    // Legacy form `ENV KEY value with spaces`: the first word is the key, the rest one value.
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw fail(`${kw} ${w[0]} needs a value`);
    return [[word(m[1]!), word(m[2]!)]];
  }
  return w.map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw fail(`${kw} ${JSON.stringify(kv)} is not KEY=VALUE`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

function isHeredocMarker(s: string, names: Set<string>): boolean {
  const m = /^<<-?(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\1$/.exec(s);
  return m !== null && names.has(m[2]!);
}

/** The shell text of a RUN: its line, then its heredoc bodies and terminators, as sh reads them. */
function shellWithHeredocs(text: string, heredocs: Heredoc[]): string {
  if (heredocs.length === 0) return text;
  return `${text}\n${heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`;
}

function expandHeredoc(content: string, word: (s: string) => string): string {
  // Only `$` references are replaced in a heredoc body; quotes and backslashes stay as written.
  return content.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, (ref) => word(ref));
}
