/**
 * @module config
 * Finds the server and key, once: `--url`/`--api-key` > `AIRLOCK_URL`/`AIRLOCK_API_KEY` > the
 * credentials file a local server writes to `<data-dir>/credentials.json` (data dir from
 * `AIRLOCK_DATA_DIR`, default `/var/lib/airlock`). The only module of the CLI that reads
 * `process.env`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Airlock, AuthenticationError } from '@airlock/sdk';

export const DEFAULT_DATA_DIR = '/var/lib/airlock';

export interface ConnectionFlags {
  url?: string | undefined;
  apiKey?: string | undefined;
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

export function resolveConnection(
  flags: ConnectionFlags,
  env: Env = process.env,
  readFile: ReadFile = (path) => readFileSync(path, 'utf8'),
): Connection {
  const credentialsPath = join(env['AIRLOCK_DATA_DIR'] || DEFAULT_DATA_DIR, 'credentials.json');
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
