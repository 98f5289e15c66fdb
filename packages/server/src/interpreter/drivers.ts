/**
 * @module drivers
 * The in-sandbox driver of each language (packages/server/drivers/) and how it starts. Nothing is
 * copied into the sandbox's filesystem: a short bootstrap in argv reads one JSON line from stdin
 * (the driver's source, the nonce, the limits) and runs it. The nonce is never in argv, which any
 * process of the sandbox can read in /proc.
 */
import { readFileSync } from 'node:fs';
import type { CodeLanguage } from '@airlock/protocol';

const DRIVERS = new URL('../../drivers/', import.meta.url);

export interface DriverSpec {
  argv: string[];
  source: string;
}

const PY_BOOT = [
  'import os,json',
  "b=b''",
  "while b'\\n' not in b:",
  ' c=os.read(0,65536)',
  ' if not c: raise SystemExit(70)',
  ' b+=c',
  "i=b.index(b'\\n')",
  'boot=json.loads(b[:i])',
  "boot['rest']=b[i+1:]",
  "exec(compile(boot.pop('source'),'<airlock-driver>','exec'),{'__name__':'__airlock__','BOOT':boot})",
].join('\n');

const JS_BOOT = [
  "const fs=require('fs');let b=Buffer.alloc(0);const c=Buffer.alloc(65536);",
  'while(!b.includes(10)){const n=fs.readSync(0,c,0,c.length,null);if(n===0)process.exit(70);b=Buffer.concat([b,c.subarray(0,n)]);}',
  'const i=b.indexOf(10);const boot=JSON.parse(b.subarray(0,i).toString());boot.rest=b.subarray(i+1);',
  "const src=boot.source;delete boot.source;new Function('BOOT','require',src)(boot,require);",
].join('');

// bash reads its driver with `read`, which stops at the first newline of the boot line: the
// source travels base64 (no newline), and the rest of the line is the nonce.
const BASH_BOOT = 'IFS=" " read -r __airlock_nonce __airlock_src || exit 70; eval "$(printf %s "$__airlock_src" | base64 -d)"';

let cache: Partial<Record<CodeLanguage, DriverSpec>> = {};

export function driverFor(language: CodeLanguage): DriverSpec {
  const hit = cache[language];
  if (hit) return hit;
  const spec: DriverSpec =
    language === 'python'
      ? { argv: ['python3', '-u', '-c', PY_BOOT], source: readFileSync(new URL('python.py', DRIVERS), 'utf8') }
      : language === 'javascript'
        ? { argv: ['node', '-e', JS_BOOT], source: readFileSync(new URL('javascript.cjs', DRIVERS), 'utf8') }
        : { argv: ['bash', '--norc', '--noprofile', '-c', BASH_BOOT], source: readFileSync(new URL('bash.sh', DRIVERS), 'utf8') };
  cache = { ...cache, [language]: spec };
  return spec;
}

/** The first line the driver reads: what it runs and how it frames. */
export function bootLine(language: CodeLanguage, nonce: string, limits: { maxResultBytes: number; maxResultsPerCell: number }, preload: string[] = []): Buffer {
  const spec = driverFor(language);
  if (language === 'bash') return Buffer.from(`${nonce} ${Buffer.from(spec.source).toString('base64')}\n`);
  return Buffer.from(`${JSON.stringify({ nonce, source: spec.source, limits, preload })}\n`);
}

/** A command to run a cell, as the driver reads it (bash: base64 of the code on one line). */
export function runLine(language: CodeLanguage, cell: string, code: string, figureFormats: string[]): Buffer {
  if (language === 'bash') return Buffer.from(`${cell} ${Buffer.from(code).toString('base64')}\n`);
  return Buffer.from(`${JSON.stringify({ type: 'run', cell, code, figureFormats })}\n`);
}
