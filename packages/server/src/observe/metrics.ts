/**
 * @module metrics
 * The server's Prometheus series (prom-client), on a registry of its own (never the global one, so
 * two servers in one process, as in tests, do not share counters). Names follow Prometheus
 * conventions: `airlock_` prefix, base units (`_seconds`, `_bytes`), `_total` on counters.
 *
 * No series carries a sandbox id, a key, a path or any value a user chose beyond the project name:
 * labels are closed sets (runtime, state, outcome, verdict) so cardinality stays bounded whatever
 * the callers do. Series that describe a project carry a `project` label, which is what the
 * exposition filters on for a caller that may see only its own project (metrics-exposition.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds; from a warm-pool claim (ms) to a cold microVM boot under TCG (tens of seconds). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface SandboxCount {
  state: string;
  runtime: string;
  project: string;
}

export interface MetricsSources {
  /** Sandboxes that hold or held resources, as the store has them now (read at scrape time). */
  sandboxes(): Promise<SandboxCount[]>;
  /** Bytes of the image store: compressed blobs and the btrfs volume's used bytes. */
  storeBytes(): Promise<{ blobs: number; volume: number }>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly createSeconds: Histogram<'runtime' | 'source' | 'outcome'>;
  readonly destroySeconds: Histogram<'runtime'>;
  readonly execSeconds: Histogram<'runtime'>;
  readonly execStarted: Counter<'runtime' | 'project'>;
  readonly poolClaims: Counter<'runtime' | 'result'>;
  readonly imagePulls: Counter<'outcome'>;
  readonly imagePullSeconds: Histogram<'outcome'>;
  readonly networkVerdicts: Counter<'kind' | 'verdict'>;
  readonly protocolViolations: Counter<'runtime'>;
  readonly quotaRefusals: Counter<'project' | 'quota'>;
  readonly stopped: Counter<'runtime' | 'reason'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpSeconds: Histogram<'method' | 'route'>;
  readonly webhookDeliveries: Counter<'outcome'>;
  readonly eventsEmitted: Counter<'type'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    // Process and Node series (CPU, memory, GC, handles) and the event-loop lag
    // (nodejs_eventloop_lag_seconds and its percentiles), sampled by perf_hooks.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    new Gauge({
      name: 'airlock_sandboxes',
      help: 'Sandboxes by state, runtime and project (destroyed ones are not counted; warm-pool sandboxes are in project "default")',
      labelNames: ['state', 'runtime', 'project'],
      registers,
      async collect() {
        this.reset();
        for (const s of await sources.sandboxes()) this.inc({ state: s.state, runtime: s.runtime, project: s.project });
      },
    });
    new Gauge({
      name: 'airlock_image_store_bytes',
      help: 'Bytes held by the image store: kind="blobs" (compressed layers and configs), kind="volume" (the btrfs volume of unpacked layers and sandbox roots)',
      labelNames: ['kind'],
      registers,
      async collect() {
        const b = await sources.storeBytes();
        this.set({ kind: 'blobs' }, b.blobs);
        this.set({ kind: 'volume' }, b.volume);
      },
    });
    this.createSeconds = new Histogram({
      name: 'airlock_sandbox_create_duration_seconds',
      help: 'Time to create a sandbox, from admission to a running agent (source="pool": handed out from a warm pool)',
      labelNames: ['runtime', 'source', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.destroySeconds = new Histogram({
      name: 'airlock_sandbox_destroy_duration_seconds',
      help: 'Time a destroy request took to answer',
      labelNames: ['runtime'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.execSeconds = new Histogram({
      name: 'airlock_exec_duration_seconds',
      help: 'Commands run with exec, from the request to the command ending (includes what the command itself took)',
      labelNames: ['runtime'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.execStarted = new Counter({ name: 'airlock_execs_started_total', help: 'Commands started with exec', labelNames: ['runtime', 'project'], registers });
    this.poolClaims = new Counter({
      name: 'airlock_pool_claims_total',
      help: 'Creates that matched a warm pool: result="hit" took a waiting sandbox, "miss" found none ready',
      labelNames: ['runtime', 'result'],
      registers,
    });
    this.imagePulls = new Counter({ name: 'airlock_image_pulls_total', help: 'Image pulls by outcome', labelNames: ['outcome'], registers });
    this.imagePullSeconds = new Histogram({
      name: 'airlock_image_pull_duration_seconds',
      help: 'Time an image pull took',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.networkVerdicts = new Counter({
      name: 'airlock_network_verdicts_total',
      help: 'Egress decisions of sandbox networks (kind: dns, connect, …; verdict: allowed, denied, …)',
      labelNames: ['kind', 'verdict'],
      registers,
    });
    this.protocolViolations = new Counter({
      name: 'airlock_agent_protocol_violations_total',
      help: 'Sandboxes stopped because their agent broke the channel protocol',
      labelNames: ['runtime'],
      registers,
    });
    this.quotaRefusals = new Counter({
      name: 'airlock_quota_refusals_total',
      help: 'Requests refused by a quota or capacity limit (quota="server_capacity": the server-wide limits)',
      labelNames: ['project', 'quota'],
      registers,
    });
    this.stopped = new Counter({
      name: 'airlock_sandboxes_stopped_total',
      help: 'Sandboxes that stopped, by reason (destroyed, timeout, oom, exited, agent_protocol, …)',
      labelNames: ['runtime', 'reason'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'airlock_http_requests_total',
      help: 'API requests by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'airlock_http_request_duration_seconds',
      help: 'Time to the response head (streams go on after it)',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'airlock_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome (delivered, failed, gave_up)',
      labelNames: ['outcome'],
      registers,
    });
    this.eventsEmitted = new Counter({ name: 'airlock_events_total', help: 'Lifecycle events recorded, by type', labelNames: ['type'], registers });
  }

  /** The hook quota checks call when they refuse (tenancy's quotas, the server's capacity limits). */
  quotaRefused(project: string, quota: string): void {
    this.quotaRefusals.inc({ project, quota });
  }
}
