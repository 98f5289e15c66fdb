/**
 * @module build-fixtures
 * Test and bench support for image builds: a loopback registry holding the Debian python base
 * (image-fixtures.ts), a build request over HTTP that collects the NDJSON events, and what a test
 * checks afterwards to prove a build left nothing behind (live sandboxes, work subvolumes,
 * sandbox roots).
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pushImage, readPythonRootfsTar, startRegistry, tarOf, type Registry, type TarEntry } from './image-fixtures.js';
import { testRoot, type TestServer } from './harness.js';

export interface BaseRegistry {
  registry: Registry;
  /** Reference of the python base image in it. */
  base: string;
}

export async function startBaseRegistry(): Promise<BaseRegistry> {
  const registry = await startRegistry(mkdtempSync(join(testRoot(), 'registry-')));
  await pushImage(registry.host, 'base/py', '1', [readPythonRootfsTar()], {
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  });
  return { registry, base: `${registry.host}/base/py:1` };
}

export interface BuildResult {
  status: number;
  events: any[];
  /** The final `image` event's image, or undefined. */
  image: any;
  error: { code: string; message: string } | undefined;
}

export type BuildQuery = Record<string, string | string[] | undefined>;

export function buildUrl(srv: TestServer, query: BuildQuery): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of v === undefined ? [] : Array.isArray(v) ? v : [v]) q.append(k, one);
  return `${srv.server.url}/v1/images/build?${q}`;
}

/** Sends a build and reads its whole event stream (or its error body). */
export async function build(srv: TestServer, context: TarEntry[] | Buffer, query: BuildQuery = {}, onEvent?: (e: any) => void): Promise<BuildResult> {
  const body = Buffer.isBuffer(context) ? context : await tarOf(context);
  const res = await fetch(buildUrl(srv, query), {
    method: 'POST',
    headers: { authorization: `Bearer ${srv.api.key}`, 'content-type': 'application/x-tar' },
    body,
  });
  if (res.status !== 200) {
    const err = (await res.json()) as { code: string; message: string };
    return { status: res.status, events: [err], image: undefined, error: err };
  }
  const events: any[] = [];
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const l of lines.filter(Boolean)) {
      const e = JSON.parse(l);
      events.push(e);
      onEvent?.(e);
    }
  }
  const last = events[events.length - 1];
  return { status: 200, events, image: last?.type === 'image' ? last.image : undefined, error: last?.type === 'error' ? last : undefined };
}

/** A Dockerfile and files as context entries. */
export function context(dockerfile: string, files: Record<string, string> = {}, extra: TarEntry[] = []): TarEntry[] {
  return [{ name: 'Dockerfile', body: dockerfile }, ...Object.entries(files).map(([name, body]) => ({ name, body })), ...extra];
}

/**
 * What a finished build must not leave: live sandboxes, work subvolumes, sandbox roots, context
 * dirs. gVisor sandboxes (a test's own, too) are released in the background after their destroy
 * answers: this waits a bounded time for the list to empty and returns what is left.
 */
export async function leftovers(srv: TestServer, deadlineMs = 60_000): Promise<string[]> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const left = await leftoversNow(srv);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function leftoversNow(srv: TestServer): Promise<string[]> {
  const out: string[] = [];
  const live = await srv.api.call('GET', '/v1/sandboxes');
  for (const s of live.body.sandboxes ?? []) out.push(`sandbox ${s.id} (${s.state})`);
  const store = join(srv.server.config.dataDir, 'images', 'store', 'fs');
  for (const d of ['tmp', 'sandboxes']) for (const n of existsSync(join(store, d)) ? readdirSync(join(store, d)) : []) out.push(`${d}/${n}`);
  const scratch = join(srv.server.config.dataDir, 'images', 'build');
  for (const n of existsSync(scratch) ? readdirSync(scratch) : []) out.push(`build/${n}`);
  return out;
}

export function layerEvents(r: BuildResult): { step: number; cached: boolean }[] {
  return r.events.filter((e) => e.type === 'layer').map((e) => ({ step: e.step, cached: e.cached }));
}
