/**
 * @module sandbox/test-kit
 * TEST ONLY: a SandboxService on the fake runtime (runtimes/fake-runtime.ts), an in-memory image
 * provider and a real SQLite store in a temporary directory, for unit tests without root. A
 * "restart" is a new service on the same store file and the same FakeHost.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, type ConfigOverrides } from '../config.js';
import type { ImageDefaults, ImageProvider } from '../images/image.js';
import { FakeHost, FakeRuntime } from '../runtimes/fake-runtime.js';
import { RuntimeRegistry } from '../runtimes/registry.js';
import type { RootfsSpec } from '../runtimes/runtime.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { Releases } from './releases.js';
import { SandboxService } from './service.js';

export class FakeImages implements ImageProvider {
  readonly prepared = new Set<string>();

  has(ref: string): boolean {
    return ref === 'default';
  }

  async resolve(): Promise<{ imageId: string; lease: { release(): void } }> {
    return { imageId: 'default', lease: { release: () => {} } };
  }

  async defaults(): Promise<ImageDefaults> {
    return { env: ['PATH=/bin'], user: 'user', cwd: '/', command: [] };
  }

  async prepare(_imageId: string, sandboxId: string): Promise<RootfsSpec> {
    this.prepared.add(sandboxId);
    return { kind: 'directory', path: `/fake/${sandboxId}`, readonly: false, mounts: [] };
  }

  preparedSandboxes(): string[] {
    return [...this.prepared];
  }

  async release(sandboxId: string): Promise<void> {
    this.prepared.delete(sandboxId);
  }
}

export interface Kit {
  host: FakeHost;
  images: FakeImages;
  dir: string;
  /** Starts a service (after a reconcile, as the server does). */
  start(overrides?: ConfigOverrides): Promise<SandboxService>;
  cleanup(): void;
}

export function fakeKit(): Kit {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-unit-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, '{}');
  const host = new FakeHost();
  const images = new FakeImages();
  const stores: SqliteStore[] = [];
  return {
    host,
    images,
    dir,
    start: async (overrides = {}) => {
      const config = loadConfig(
        {
          dataDir: dir,
          runtimes: ['runc'],
          hostMemoryMiB: 8192,
          hostCpus: 4,
          ...overrides,
          agent: { pingIntervalMs: 0, readyTimeoutMs: 2000, ...overrides.agent },
        },
        { AIRLOCK_CONFIG: configFile },
      );
      const store = new SqliteStore(join(dir, 'airlock.db'));
      stores.push(store);
      const runtimes = new RuntimeRegistry([new FakeRuntime(host)]);
      await runtimes.probe();
      const service = new SandboxService({ config, store, runtimes, images: [images], log: pino({ level: 'silent' }), releases: new Releases() });
      await service.reconcile();
      service.start();
      return service;
    },
    cleanup: () => {
      for (const s of stores) void s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
