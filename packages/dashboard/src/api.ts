/**
 * @module api
 * The dashboard's one door to the server: fetch with the signed-in key. Any 401 signs the user out
 * at once (a revoked key must not keep a session), and the key lives in sessionStorage only (gone
 * with the tab), never in a cookie the browser would send on its own.
 */
const KEY = 'airlock.key';

type Listener = () => void;
const signedOut = new Set<Listener>();

export function currentKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signIn(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  for (const l of signedOut) l();
}

export function onSignOut(l: Listener): () => void {
  signedOut.add(l);
  return () => signedOut.delete(l);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function call(method: string, path: string, body?: BodyInit | object, contentType?: string): Promise<Response> {
  const key = currentKey();
  if (key === null) throw new ApiError(401, 'unauthenticated', 'not signed in');
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  let payload: BodyInit | undefined;
  if (body instanceof Blob || body instanceof ArrayBuffer || typeof body === 'string') {
    payload = body;
    headers['content-type'] = contentType ?? 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  if (res.status === 401) {
    signOut();
    throw new ApiError(401, 'unauthenticated', 'the API key is not valid (any more)');
  }
  if (!res.ok) {
    const err = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    throw new ApiError(res.status, err.code ?? 'error', err.message ?? `${method} ${path} answered ${res.status}`);
  }
  return res;
}

export async function json<T>(method: string, path: string, body?: object): Promise<T> {
  return (await call(method, path, body)).json() as Promise<T>;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}
