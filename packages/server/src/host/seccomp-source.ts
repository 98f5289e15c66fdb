/**
 * @module seccomp-source
 * Reads the docker-style seccomp profile the host ships (Debian: golang-github-containers-common,
 * which skopeo pulls in). Its allow-list is the input of runtimes/seccomp-profile.ts; it is read
 * once at start, never copied into the repository.
 */
import { readFileSync } from 'node:fs';
import type { DockerStyleProfile } from '../runtimes/seccomp-profile.js';

export const SYSTEM_SECCOMP_PROFILE = '/usr/share/containers/seccomp.json';

export type SeccompSource = { profile: DockerStyleProfile } | { missing: string };

export function readSystemSeccompProfile(path = SYSTEM_SECCOMP_PROFILE): SeccompSource {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as DockerStyleProfile;
    if (!Array.isArray(parsed.syscalls)) return { missing: `${path} has no syscalls list` };
    return { profile: parsed };
  } catch (e) {
    return { missing: `cannot read ${path} (${e instanceof Error ? e.message : String(e)}); install golang-github-containers-common` };
  }
}
