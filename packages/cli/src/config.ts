/**
 * @module config
 * Finds the server and key, once: `--url`/`--api-key` > a named profile (`--profile prod`, or
 * `AIRLOCK_PROFILE`) > `AIRLOCK_URL`/`AIRLOCK_API_KEY` > the credentials file a local server writes
 * to `<data-dir>/credentials.json` (data dir from `AIRLOCK_DATA_DIR`, default `/var/lib/airlock`).
 * Profiles live in `<config-dir>/airlock/config.json` (`$XDG_CONFIG_HOME`, else `~/.config`):
 * `{"profiles": {"prod": {"url": "https://…", "apiKey": "ak_…"}}}`, a file to keep 0600. The only
 * module of the CLI that reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Airlock, AuthenticationError } from '@airlock/sdk';
import { UsageError } from './errors.js';

export const DEFAULT_DATA_DIR = '/var/lib/airlock';

export interface ConnectionFlags {
  url?: string | undefined;
  apiKey?: string | undefined;
  profile?: string | undefined;
}

export interface Connection {
  url: string | undefined;
  apiKey: string | undefined;
  /** Where the key came from, for error messages. */
  credentialsPath: string;
  /** Why the credentials file could not be used, if it exists but could not be read. */
  credentialsProblem: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;
export type ReadFile = (path: string) => string;

interface Credentials {
  url?: string;
  apiKey?: string;
}

export function resolveConnection(flags: ConnectionFlags, env: Env = process.env, readFile: ReadFile = (path) => readFileSync(path, 'utf8')): Connection {
  const credentialsPath = join(env['AIRLOCK_DATA_DIR'] || DEFAULT_DATA_DIR, 'credentials.json');
  const profileName = flags.profile ?? (env['AIRLOCK_PROFILE'] || undefined);
  if (profileName !== undefined) {
    const path = profilesPath(env);
    const profile = readProfile(path, profileName, readFile);
    // A profile names a server and its key together: the environment's are not mixed in.
    return {
      url: flags.url ?? profile.url,
      apiKey: flags.apiKey ?? profile.apiKey,
      credentialsPath: path,
      credentialsProblem: profile.apiKey === undefined ? `profile ${profileName} in ${path} has no apiKey` : undefined,
    };
  }
  let url = flags.url ?? (env['AIRLOCK_URL'] || undefined);
  let apiKey = flags.apiKey ?? (env['AIRLOCK_API_KEY'] || undefined);
  let credentialsProblem: string | undefined;
  if (apiKey === undefined) {
    const read = readCredentials(credentialsPath, readFile);
    credentialsProblem = read.problem;
    const file = read.credentials;
    // SECURITY: the local admin key is only ever sent to the server that wrote it. With a URL from
    // a flag or the environment that names another server, the file's key is not used.
    if (file?.apiKey !== undefined && (url === undefined || sameServer(url, file.url))) {
      apiKey = file.apiKey;
      url ??= file.url;
    } else if (file?.apiKey !== undefined && url !== undefined) {
      credentialsProblem = `${credentialsPath} holds the key of ${file.url ?? 'another server'}, not of ${url}`;
    }
  }
  return { url, apiKey, credentialsPath, credentialsProblem };
}

/** `<config-dir>/airlock/config.json`. */
export function profilesPath(env: Env): string {
  const base = env['XDG_CONFIG_HOME'] || (env['HOME'] ? join(env['HOME'], '.config') : undefined);
  if (base === undefined) throw new UsageError('--profile needs a config directory: set HOME or XDG_CONFIG_HOME');
  return join(base, 'airlock', 'config.json');
}

function readProfile(path: string, name: string, readFile: ReadFile): Credentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFile(path));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT') throw new UsageError(`profile ${name}: there is no ${path}`);
    throw new UsageError(`profile ${name}: cannot read ${path} (${code === undefined ? 'not valid JSON' : String(code)})`);
  }
  const profile = (parsed as { profiles?: Record<string, unknown> } | null)?.profiles?.[name];
  if (typeof profile !== 'object' || profile === null) throw new UsageError(`profile ${name} is not in ${path}`);
  const p = profile as Record<string, unknown>;
  const out: Credentials = {};
  if (typeof p['url'] === 'string') out.url = p['url'];
  if (typeof p['apiKey'] === 'string' && p['apiKey'] !== '') out.apiKey = p['apiKey'];
  return out;
}

function readCredentials(path: string, readFile: ReadFile): { credentials?: Credentials; problem?: string } {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return {};
    if (code === 'EACCES' || code === 'EPERM') return { problem: `${path} is not readable by this user` };
    return { problem: `cannot read ${path}: ${(error as Error).message}` };
  }
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const credentials: Credentials = {};
    if (typeof parsed['url'] === 'string') credentials.url = parsed['url'];
    if (typeof parsed['apiKey'] === 'string' && parsed['apiKey'] !== '') credentials.apiKey = parsed['apiKey'];
    return { credentials };
  } catch {
    return { problem: `${path} is not valid JSON` };
  }
}

function sameServer(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** Builds the SDK client, or explains where a key could have come from. */
export function clientFrom(flags: ConnectionFlags): Airlock {
  const connection = resolveConnection(flags);
  if (connection.apiKey === undefined) {
    const hint = connection.credentialsProblem ?? `no ${connection.credentialsPath}`;
    throw new AuthenticationError(`no API key: pass --api-key or set AIRLOCK_API_KEY (${hint})`);
  }
  return new Airlock({
    apiKey: connection.apiKey,
    ...(connection.url === undefined ? {} : { url: connection.url }),
  });
}
