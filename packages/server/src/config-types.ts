/**
 * @module config-types
 * The typed configuration every part of the server is given (config.ts resolves it once). Apart
 * from config.ts so that the shape can be read on one screen and imported without the loader.
 */
import type { RuntimeName } from '@airlock/protocol';
import type { RegistrySettings } from './images/registry-client.js';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** A fixed admin key (AIRLOCK_API_KEY); otherwise one is generated on first start. */
  apiKey: string | undefined;
  /** Runtimes to offer, in order of preference for sandboxes that do not name one. */
  runtimes: RuntimeName[];
  defaults: { cpu: number; memoryMiB: number; diskMiB: number; timeout: number | null; pidsLimit: number };
  limits: {
    maxSandboxes: number;
    maxCpu: number;
    maxMemoryMiB: number;
    maxDiskMiB: number;
    /** Any request body but file uploads and image imports (JSON of any content type included). */
    maxBodyBytes: number;
    /** One file upload. */
    maxWriteBytes: number;
    /** One image import archive. */
    maxImportBytes: number;
    /** Execs and file operations in flight on one sandbox. */
    maxOperationsPerSandbox: number;
    /** Entries one directory listing returns. */
    maxListEntries: number;
    /** Memory of all sandboxes together may reach host memory × this (minus the reserve). */
    memoryOvercommit: number;
    /** vCPUs of all sandboxes together may reach host cores × this. */
    cpuOvercommit: number;
    /**
     * Creates doing host-side work at once; those waiting are served one project at a time in turn.
     * As many again are kept for projects with no create running, so that one starts at once beside
     * another project's flood.
     */
    createConcurrency: number;
    /** Host memory kept for the server and the host itself, MiB. */
    hostMemoryReserveMiB: number;
  };
  /** The host's size, as admission sees it (from the machine unless configured). */
  machine: { memoryMiB: number; cpus: number };
  /** Deadlines and budgets of the agent channel. */
  agent: {
    /** How long create waits for the agent's first answer. */
    readyTimeoutMs: number;
    /** How long the agent may take to start a command. */
    startTimeoutMs: number;
    /** How long a file operation may wait on the agent without progress. */
    fileIdleMs: number;
    /** How often every live sandbox's agent is pinged (0: never). */
    pingIntervalMs: number;
    /** Missed pings before a sandbox is marked unresponsive. */
    maxMissedPings: number;
    /** Frames and bytes per second read from one sandbox before reading pauses (fair share of the server's CPU). */
    framesPerSecond: number;
    bytesPerSecond: number;
  };
  /** Host uid/gid ranges: sandbox slot n owns [base + n·size, base + (n+1)·size). */
  hostIds: { base: number; size: number };
  /** Sandboxes adopted or cleaned up at once after a restart. */
  reconcileConcurrency: number;
  images: {
    /** Size of the sparse btrfs volume that holds unpacked layers and sandbox root filesystems. */
    volumeBytes: number;
    /** Unused images are evicted (least recently used first) while blobs + volume use exceed this. */
    budgetBytes: number;
    /** Credentials per registry host and hosts allowed over plain HTTP. Never logged or returned. */
    registries: RegistrySettings;
  };
  /** Image builds: the largest context accepted (413 past it) and how many builds run at once. */
  builds: { maxContextBytes: number; maxContextEntries: number; maxConcurrent: number };
  /** Warm pools: started sandboxes kept ready per shape, and how many refills may run at once (the CPU budget). */
  pools: { shapes: PoolConfig[]; refillConcurrency: number; refillDelayMs: number };
  /** Directory that holds runc/runsc state; private to the server (0700). */
  runtimeStateDir: string;
  /** Processes: their output journals, the agent's buffer, the registry's size; the file API's batch bounds. */
  processes: {
    /** Output kept on the server's disk per process (both streams); older output is dropped and says so. */
    journalBytes: number;
    /** Unacknowledged output the agent holds per stream before a process nobody reads blocks. */
    agentBufferBytes: number;
    /** Ended processes kept listed per sandbox. */
    keepExited: number;
    /** A WebSocket ticket's lifetime. */
    ticketTtlMs: number;
    /** One multi-file write: files, and bytes in all. */
    maxBatchFiles: number;
    maxBatchBytes: number;
    /** Entries of one directory archive (tar) going either way. */
    maxArchiveEntries: number;
  };
  network: NetworkConfig;
  /** Metrics, lifecycle events and webhooks (docs/observability.md). */
  observe: ObserveConfig;
  /** microVMs (runtime "microvm"). */
  vm: VmConfig;
  /** Projects: the quotas every project has unless the admin set others, per-key rates, the audit log's retention. */
  tenancy: TenancyConfig;
}

export interface TenancyConfig {
  /** null: no limit. */
  quotas: {
    sandboxes: number | null;
    cpu: number | null;
    memoryMiB: number | null;
    diskMiB: number | null;
    imageBytes: number | null;
    execs: number | null;
    pulls: number | null;
  };
  /** Per key: a token bucket of `burst` requests refilled at `perSecond`. */
  rate: { perSecond: number; burst: number };
  /** Retention: at most `maxEvents` per project, none older than `maxAgeDays`. */
  audit: { maxEvents: number; maxAgeDays: number };
  /**
   * How the server's event loop is scheduled against what tenants drive (host/sched.ts):
   * `realtime` (lowest real-time priority, never inherited by what it starts) keeps one project's
   * flood from delaying every other project's requests; `normal` leaves it to the host.
   */
  controlPlane: 'realtime' | 'normal';
}

export interface VmConfig {
  /** kvm only where it works, tcg always; auto probes once per host boot. */
  accel: 'auto' | 'kvm' | 'tcg';
  machine: 'microvm' | 'q35';
  /** The guest kernel (vmlinuz-<version>, its modules in /lib/modules/<version>); default: the newest *-cloud-amd64 in /boot. */
  kernel: string | undefined;
  /** How long a guest may take from QEMU's start to its agent's first words (TCG is slow; so is a loaded host). */
  bootTimeoutMs: { kvm: number; tcg: number };
  /** Host memory QEMU itself may use beyond guest RAM (its code, TCG's translation cache, virtiofsd). */
  overheadMiB: number;
  /** Host tasks of one VM (QEMU's threads, virtiofsd's, the launcher's). */
  hostTasks: number;
}

/** Metrics, events and webhooks (docs/observability.md). */
export interface ObserveConfig {
  /**
   * A second listener (`host:port`) that serves only /metrics, without a key, for a Prometheus on a
   * private network; null: /metrics is served on the API listener only, behind an API key.
   */
  metricsListen: { host: string; port: number } | null;
  /** Lifecycle events kept for resumption (Last-Event-ID), oldest dropped first. */
  eventsRetained: number;
  /** Webhook deliveries: attempts in all, the first retry's delay (doubling), one attempt's deadline. */
  webhookAttempts: number;
  webhookBackoffMs: number;
  webhookTimeoutMs: number;
  /** Webhooks one project may register. */
  maxWebhooks: number;
  /**
   * Whether webhooks may deliver to loopback, private and link-local addresses. false (the
   * default): only public ones, since a tenant's webhook must not reach the server's own network
   * (observe/webhook-target.ts).
   */
  webhookPrivateTargets: boolean;
  /**
   * false: no request logs or request and sandbox metrics, no lifecycle events (what the bench's
   * overhead measurement compares against); /metrics then has only the process series.
   */
  enabled: boolean;
  /** Log lines: pretty on a terminal, JSON otherwise (auto), or one of them always (AIRLOCK_LOG_FORMAT). */
  logFormat: 'auto' | 'json' | 'pretty';
}

/** Sandbox networks (docs/network.md). */
export interface NetworkConfig {
  /** Off when the host lacks nft/ip, or by config: creates that ask for a network then fail. */
  enabled: boolean;
  /** Private range sandbox links are cut from (a /30 each). */
  subnet: string;
  /** Names this instance's nft table, veths and namespaces; from the data dir unless set. */
  tag: string;
  /** Resolvers the platform DNS and the proxy ask (`ip` or `ip:port`); default: the host's resolv.conf. */
  dnsUpstream: string[];
  /** Interfaces sandbox traffic may leave by; undefined: those holding a default route. */
  uplinks: string[] | undefined;
  /** TCP ports that domain rules are enforced on by name (the transparent proxy). */
  httpPorts: number[];
  tlsPorts: number[];
  /** DNS answers' TTLs are clamped to this range, seconds. */
  ttl: { min: number; max: number };
  /** DNS questions per second per sandbox (sustained, burst). */
  dnsRate: { perSecond: number; burst: number };
  /** When set, exposed ports also answer at `{port}-{id}.{portsDomain}`. */
  portsDomain: string | null;
}

/** One warm pool: `size` sandboxes of this shape are kept started and waiting for a create that matches it. */
export interface PoolConfig {
  runtime: RuntimeName;
  image: string;
  cpu: number;
  memoryMiB: number;
  diskMiB: number;
  size: number;
  /** A Python code context started in each pooled sandbox, these modules imported (interpreter/). */
  codeContext?: { preload: string[] } | undefined;
}

/** What `airlock serve` flags (and tests) may set; each wins over the environment and the file. */
export type ConfigOverrides = Partial<Pick<Config, 'host' | 'port' | 'dataDir' | 'logLevel' | 'apiKey' | 'runtimes'>> & {
  vm?: Partial<VmConfig>;
  registries?: RegistrySettings;
  defaultDiskMiB?: number;
  imageBudgetBytes?: number;
  imageVolumeBytes?: number;
  /** `runtime:size` specs (`airlock serve --pool gvisor:4`): pools of the default image and resources. */
  pools?: string[];
  poolRefillConcurrency?: number;
  poolRefillDelayMs?: number;
  maxSandboxes?: number;
  limits?: Partial<Config['limits']>;
  agent?: Partial<Config['agent']>;
  processes?: Partial<Config['processes']>;
  /** Admission's view of the host (tests give a small host to reach capacity). */
  hostMemoryMiB?: number;
  hostCpus?: number;
  /** `airlock serve --dns-upstream 1.1.1.1 --dns-upstream 9.9.9.9`. */
  dnsUpstream?: string[];
  network?: Partial<Omit<NetworkConfig, 'dnsUpstream'>>;
  buildContextBytes?: number;
  tenancy?: {
    quotas?: Partial<TenancyConfig['quotas']>;
    rate?: Partial<TenancyConfig['rate']>;
    audit?: Partial<TenancyConfig['audit']>;
    controlPlane?: TenancyConfig['controlPlane'];
  };
  observe?: Partial<ObserveConfig>;
};
