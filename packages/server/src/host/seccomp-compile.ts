/**
 * @module seccomp-compile
 * Compiles a seccomp policy (runtimes/seccomp-profile.ts compilerPolicy) into the classic BPF program
 * that bubblewrap's --seccomp FD loads, with the host-side helper airlock-seccomp-compile.
 */
import { renameSync } from 'node:fs';
import { SECCOMP_COMPILER } from '@airlock/agent';
import { checkCommand } from './command.js';

/** Writes the program to `out` atomically (a sandbox starting meanwhile never reads half a file). */
export async function compileSeccomp(policy: string, out: string): Promise<void> {
  const tmp = `${out}.${process.pid}.tmp`;
  await checkCommand([SECCOMP_COMPILER, tmp], { input: policy, timeoutMs: 30_000 });
  renameSync(tmp, out);
}
