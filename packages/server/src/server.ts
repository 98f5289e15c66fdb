/**
 * @module server
 * Composition root: config → data dir → store → keys → runtimes → images → sandbox service →
 * reconciliation → HTTP. Returns a handle whose close() stops serving and leaves sandboxes running
 * for the next start to adopt.
 */
import { lowerEventLoop, raiseEventLoop } from './host/sched.js';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from './api/app.js';
import { routeTable, type RouteEntry } from './api/route-table.js';
import { installPortsGateway } from './api/ports-gateway.js';
import { Tickets } from './api/tickets.js';
import { attachWebSockets } from './api/ws.js';
import { CREDENTIALS_FILE, ensureAdminKey, writeCredentials } from './auth/api-keys.js';
import { Principals } from './auth/principals.js';
import { AuditLog } from './tenancy/audit-log.js';
import { ImageScope } from './tenancy/image-scope.js';
import { Projects } from './tenancy/projects.js';
import { ProjectQuotas } from './tenancy/quotas.js';
import { KeyRateLimiter } from './tenancy/rate-limit.js';
import { loadConfig, type Config, type ConfigOverrides } from './config.js';
import { readSystemSeccompProfile } from './host/seccomp-source.js';
import { claimDataDir, installNative, privateDir, type NativeFiles } from './host/data-dir.js';
import { AGENT_BINARY, STATX_COMPAT_LIBRARY } from '@airlock/agent';
import { STATX_COMPAT_IN_SANDBOX } from './runtimes/oci-spec.js';
import { BtrfsSnapshotter } from './images/btrfs-snapshotter.js';
import { ContentStore } from './images/content-store.js';
import { DefaultImage, WRITABLE_LAYER } from './images/default-image.js';
import { BuildService } from './images/build/build-service.js';
import { BuildRoots } from './images/build/build-roots.js';
import { Builder } from './images/build/builder.js';
import { SandboxStepRunner } from './images/build/sandbox-step-runner.js';
import { StepCache } from './images/build/step-cache.js';
import { ImageService } from './images/image-service.js';
import { ImageTransfer } from './images/image-transfer.js';
import { RegistryClient } from './images/registry-client.js';
import { createLogger, type Logger } from './log.js';
import { RuntimeRegistry, createRuntime } from './runtimes/registry.js';
import { Releases } from './sandbox/releases.js';
import { SandboxService } from './sandbox/service.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { Store } from './store/store.js';
import { nftAvailable } from './host/nft.js';
import { cidr } from './network/ipv4.js';
import { NetworkService } from './network/network-service.js';
import { VERSION } from './version.js';
import { NetworkSettings } from '@airlock/protocol';
import { Observability } from './observe/observability.js';
import { SandboxStatsReader } from './observe/stats.js';
import { countPulls } from './observe/pull-meter.js';
import { metricsApp } from './api/routes/metrics.js';

export interface RunningServer {
  url: string;
  /** The admin key when this start created it or it was fixed by config; undefined otherwise. */
  apiKey: string | undefined;
  config: Config;
  sandboxes: SandboxService;
  images: ImageService;
  /** Sandbox networks (undefined when off). */
  network: NetworkService | undefined;
  builds: BuildService;
  projects: Projects;
  /** The HTTP routes as data (api/route-table.ts): what the authorization matrix test walks. */
  routes: RouteEntry[];
  /** Every handler the HTTP app has, in or outside the route table (the matrix checks none escapes it). */
  handlers: { method: string; path: string }[];
  /** The admin metrics listener's URL, when configured (observe.metricsListen). */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  print?: (line: string) => void;
  /** Builds each configured runtime; tests inject deliberately weakened ones (security suite). */
  createRuntime?: typeof createRuntime;
}

export async function startServer(overrides: ConfigOverrides = {}, options: StartOptions = {}): Promise<RunningServer> {
  const config = loadConfig(overrides);
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = createLogger(config.logLevel, config.observe.logFormat);
  const releaseLock = claimDataDir(config.dataDir);
  const dbDir = privateDir(join(config.dataDir, 'db'));
  const store = new SqliteStore(join(dbDir, 'airlock.db'), envSealKey(join(dbDir, 'env.key')));
  const closers: (() => Promise<void>)[] = [];
  try {
    const { key, created } = await ensureAdminKey(store.keys, config.apiKey);
    const quotas = new ProjectQuotas(config.tenancy.quotas);
    const principals = new Principals(store.keys);
    const projects = new Projects(store, quotas, principals);
    await projects.load();
    privateDir(config.runtimeStateDir);
    const native: NativeFiles =
      existsSync(AGENT_BINARY) && existsSync(STATX_COMPAT_LIBRARY)
        ? installNative(config.dataDir, { agent: AGENT_BINARY, statxCompat: STATX_COMPAT_LIBRARY }, STATX_COMPAT_IN_SANDBOX)
        : { agent: AGENT_BINARY, statxCompat: STATX_COMPAT_LIBRARY, ldPreload: '/nonexistent', empty: '/nonexistent' };
    const seccompSource = readSystemSeccompProfile();
    const runtimes = new RuntimeRegistry(config.runtimes.map((name) => (options.createRuntime ?? createRuntime)(name, config, native, seccompSource, log)));
    await runtimes.probe();
    for (const r of runtimes.all()) {
      const a = runtimes.availability(r.name);
      if (!a.available) print(`airlock: runtime ${r.name} is unavailable: ${a.reason}`);
    }
    if (runtimes.preferred() === undefined) print('airlock: no isolation runtime is available; sandboxes cannot be created until one is installed');
    const imagesDir = join(config.dataDir, 'images');
    const releases = new Releases();
    const content = new ContentStore(privateDir(join(imagesDir, 'content')));
    const snapshotter = await BtrfsSnapshotter.open(join(imagesDir, 'store'), config.images.volumeBytes);
    snapshotter.onCleanupError = (err, path) => log.error({ err, path }, 'removing a half-made layer failed; the next start removes it');
    const registry = new RegistryClient(config.images.registries);
    const imageService = new ImageService({ store, content, snapshotter, registry, log, budgetBytes: config.images.budgetBytes, releases });
    closers.push(() => imageService.close());
    const defaultImage = new DefaultImage(imagesDir, snapshotter);
    await defaultImage.init();
    // No image record references the default image's writable base layer: a lease for the server's
    // lifetime keeps garbage collection from taking it.
    imageService.leases.acquire([WRITABLE_LAYER]);
    // Build steps' roots come before the OCI images: their references exist only while a step runs.
    const buildRoots = new BuildRoots(snapshotter);
    const images = [defaultImage, buildRoots, imageService.provider];
    const network = await startNetwork(config, store, log, print);
    if (network) closers.push(() => network.close({ removeTable: network.records().length === 0 }));
    const obs = new Observability(
      join(config.dataDir, 'db'),
      config.observe,
      {
        sandboxes: async () =>
          (await store.sandboxes.list({ states: ['creating', 'running', 'stopped', 'unknown'], includePooled: true })).map((r) => ({
            state: r.state,
            runtime: r.runtime,
            project: r.project,
          })),
        storeBytes: async () => ({ blobs: content.list().reduce((n, d) => n + content.size(d), 0), volume: (await snapshotter.usage()).usedBytes }),
      },
      log,
    );
    closers.push(() => obs.close());
    countPulls(imageService.puller, obs.metrics);
    if (network) network.onVerdict = (kind, verdict) => obs.metrics.networkVerdicts.inc({ kind, verdict });
    const on = config.observe.enabled;
    const observedStore: Store = on
      ? {
          sandboxes: obs.wrapStore(store.sandboxes),
          images: store.images,
          keys: store.keys,
          projects: store.projects,
          grants: store.grants,
          audit: store.audit,
          close: () => store.close(),
        }
      : store;
    const sandboxes = new SandboxService({
      config,
      store: observedStore,
      runtimes,
      images,
      log,
      releases,
      network,
      quotas,
      observer: on ? obs.observer : undefined,
    });
    projects.bind(sandboxes);
    closers.push(() => sandboxes.close());
    const builds = new BuildService({
      builder: new Builder({
        images: imageService,
        content,
        snapshotter,
        cache: new StepCache(join(imagesDir, 'build-cache')),
        runner: new SandboxStepRunner({
          sandboxes,
          roots: buildRoots,
          snapshotter,
          log,
          // A build that names domains gets an allow list of exactly those; nothing else.
          ...(network ? { networkPolicy: (allow: string[]) => NetworkSettings.parse({ egress: { allow } }) } : {}),
        }),
        log,
        // What a RUN may write is its disk limit; a layer may not hold more (sparse files).
        maxLayerBytes: config.defaults.diskMiB * 1024 * 1024,
      }),
      scratchDir: join(imagesDir, 'build'),
      limits: { maxBytes: config.builds.maxContextBytes, maxEntries: config.builds.maxContextEntries, maxConcurrent: config.builds.maxConcurrent },
      defaultTimeoutSeconds: config.defaults.timeout ?? 3600,
      networkPolicies: network !== undefined,
      log,
    });
    // Closed first (closers run in reverse): a running build's sandboxes go before the service does.
    closers.push(() => builds.close());
    const t0 = performance.now();
    const reconciled = await sandboxes.reconcile();
    log.info({ ...reconciled, ms: Math.round(performance.now() - t0) }, 'reconciled sandboxes with the runtimes');
    sandboxes.start();

    const tickets = new Tickets(config.processes.ticketTtlMs);
    const rate = new KeyRateLimiter(config.tenancy.rate);
    const audit = new AuditLog(store.audit, config.tenancy.audit, log);
    await audit.prune();
    const tenancy = { principals, quotas, rate, audit };
    const stats = new SandboxStatsReader({
      sandbox: (id) => sandboxes.get(id),
      rootfsPath: (id) => snapshotter.rootfsHostPath(id),
      hostLink: (id) => network?.hostLinkOf(id),
    });
    const app = createApp({
      ...tenancy,
      projects,
      imageScope: new ImageScope(imageService, store.grants, store.images),
      tickets,
      sandboxes,
      images: imageService,
      builds,
      transfer: new ImageTransfer(imageService, content, registry),
      maxContextBytes: config.builds.maxContextBytes,
      content,
      runtimes,
      log,
      version: VERSION,
      limits: { ...config.limits, maxArchiveEntries: config.processes.maxArchiveEntries },
      observe: { obs, stats, enabled: config.observe.enabled },
    });
    if (config.tenancy.controlPlane === 'realtime') {
      const why = await raiseEventLoop();
      if (why === undefined) closers.push(() => lowerEventLoop());
      else print(`airlock: the event loop keeps the normal priority (${why}): under one project's flood, other projects' requests wait longer`);
    }
    const server = await listen(app.fetch, config.host, config.port);
    const ml = config.observe.metricsListen;
    const metricsServer = ml ? await listen(metricsApp(obs.metrics).fetch, ml.host, ml.port) : undefined;
    const metricsUrl = metricsServer
      ? `http://${ml!.host.includes(':') ? `[${ml!.host}]` : ml!.host}:${(metricsServer.address() as AddressInfo).port}/metrics`
      : undefined;
    if (metricsUrl) print(`airlock: metrics (no key) on ${metricsUrl}`);
    installPortsGateway(server as import('node:http').Server, sandboxes, config.network.portsDomain, log);
    const sockets = attachWebSockets(server as Server, { sandboxes, ...tenancy, tickets, log, portsDomain: config.network.portsDomain });
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    const credentials = join(config.dataDir, CREDENTIALS_FILE);
    const knownKey = key ?? readStoredKey(credentials);
    if (knownKey !== undefined) writeCredentials(config.dataDir, url, knownKey);
    if (created) print(`airlock: admin API key (shown once; also in ${credentials}): ${key}`);
    print(
      `airlock: listening on ${url} (runtimes: ${
        runtimes
          .all()
          .filter((r) => runtimes.availability(r.name).available)
          .map((r) => r.name)
          .join(', ') || 'none'
      })`,
    );
    log.info({ url, dataDir: config.dataDir }, 'server started');

    return {
      url,
      apiKey: key,
      config,
      sandboxes,
      images: imageService,
      network,
      builds,
      projects,
      routes: routeTable(app),
      handlers: app.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method, path: r.path })),
      metricsUrl,
      close: async () => {
        sockets.close();
        obs.endStreams();
        principals.close();
        if (metricsServer) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
        await new Promise<void>((resolve) => server.close(() => resolve()));
        for (const close of closers.reverse()) await close().catch((err: unknown) => log.error({ err }, 'closing failed'));
        await store.close();
        releaseLock();
      },
    };
  } catch (e) {
    for (const close of closers.reverse()) await close().catch((err: unknown) => log.error({ err }, 'closing after a failed start failed'));
    await store.close();
    releaseLock();
    throw e;
  }
}

/**
 * The sandbox networks, with the networks of the sandboxes the store holds taken back (their
 * namespaces outlived the previous server; reconciliation then detaches those that did not).
 */
async function startNetwork(config: Config, store: SqliteStore, log: Logger, print: (line: string) => void): Promise<NetworkService | undefined> {
  const n = config.network;
  if (!n.enabled) return undefined;
  if (!(await nftAvailable())) {
    print('airlock: sandbox networks are off: nft is missing (install nftables); creates that ask for a network fail');
    return undefined;
  }
  if (n.dnsUpstream.length === 0) print('airlock: no DNS upstream (network.dnsUpstream, or a nameserver in /etc/resolv.conf): sandboxes can resolve nothing');
  const holding = await store.sandboxes.holding();
  // Names this instance's host objects (table, veths, namespaces) for operators and the leak check.
  writeFileSync(join(config.runtimeStateDir, 'network.json'), `${JSON.stringify({ tag: n.tag, table: `airlock_${n.tag}`, subnet: n.subnet })}\n`);
  return NetworkService.start(
    {
      tag: n.tag,
      subnet: cidr(n.subnet),
      dnsUpstream: n.dnsUpstream,
      uplinks: n.uplinks,
      proxyPorts: { http: n.httpPorts, tls: n.tlsPorts },
      ttl: n.ttl,
      dnsRate: n.dnsRate,
      setGraceSec: 60,
      log,
    },
    holding.flatMap((r) => (r.network ? [{ id: r.id, index: r.network.index, settings: r.network.settings, project: r.project }] : [])),
  );
}

function listen(fetch: (req: Request) => Response | Promise<Response>, hostname: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    // Node's default requestTimeout (300 s for the whole request, body included) resets an upload
    // that is still legitimately streaming: a 1.4 GiB image import into a busy server, a 64 GiB file
    // write. Bodies are bounded by size limits and each operation's own idle deadline instead; the
    // headers still have to arrive within Node's headersTimeout (60 s).
    const server = serve({ fetch, hostname, port, serverOptions: { requestTimeout: 0 } }, () => resolve(server));
    // An idle keep-alive connection outlives the clients' own idle limit (undici keeps one 4 s, or
    // the server's hint minus 1 s), so a client never sends a request on a socket the server is
    // closing at that moment: a POST is not retried, and the caller would see ECONNRESET.
    (server as import('node:http').Server).keepAliveTimeout = 65_000;
    (server as import('node:http').Server).headersTimeout = 66_000;
    server.once('error', reject);
  });
}

/** The key that seals sandbox env values in the database (store/sqlite/sealed.ts): made once, 0600, next to it. */
function envSealKey(path: string): Buffer {
  if (existsSync(path)) {
    const key = readFileSync(path);
    if (key.length !== 32) throw new Error(`${path} must hold 32 bytes; it holds ${key.length}`);
    return key;
  }
  const key = randomBytes(32);
  writeFileSync(path, key, { mode: 0o600, flag: 'wx' });
  return key;
}

function readStoredKey(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { apiKey?: unknown };
    return typeof parsed.apiKey === 'string' ? parsed.apiKey : undefined;
  } catch {
    return undefined;
  }
}

export type { Logger };
