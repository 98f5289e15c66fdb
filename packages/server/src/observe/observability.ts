/**
 * @module observability
 * Puts observation together for the composition root: the metrics registry, the lifecycle event
 * log and its webhooks, the observer the sandbox service reports to, and the store wrapper that
 * turns state changes into events. Nothing here answers HTTP (api/routes/ does).
 */
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { ObserveConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { SandboxObserver } from '../sandbox/observer.js';
import type { SandboxStore } from '../store/store.js';
import { EventLog, type EventInput } from './event-log.js';
import { Metrics, type MetricsSources } from './metrics.js';
import { openObserveDb } from './observe-db.js';
import { observedSandboxStore } from './observed-store.js';
import { Webhooks } from './webhooks.js';

export class Observability {
  readonly metrics: Metrics;
  readonly events: EventLog;
  readonly webhooks: Webhooks;
  readonly observer: SandboxObserver;
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #streams = new AbortController();
  /** Project of each sandbox with a process running, for exec events (the observer is told only ids). */
  readonly #projects = new Map<string, string>();
  #lookup: ((id: string) => Promise<{ project: string; pool: string | null } | undefined>) | undefined;

  constructor(dbDir: string, config: ObserveConfig, sources: MetricsSources, log: Logger) {
    this.#log = log;
    this.#db = openObserveDb(join(dbDir, 'observe.db'));
    this.metrics = new Metrics(sources);
    this.events = new EventLog(this.#db, config.eventsRetained);
    this.webhooks = new Webhooks(
      this.#db,
      {
        attempts: config.webhookAttempts,
        backoffMs: config.webhookBackoffMs,
        timeoutMs: config.webhookTimeoutMs,
        maxPerProject: config.maxWebhooks,
        privateTargets: config.webhookPrivateTargets,
      },
      log,
      (outcome) => this.metrics.webhookDeliveries.inc({ outcome }),
    );
    this.events.subscribe((e) => this.webhooks.dispatch(e));
    const m = this.metrics;
    this.observer = {
      created: (o) => m.createSeconds.observe({ runtime: o.runtime, source: o.source, outcome: o.ok ? 'ok' : 'error' }, o.seconds),
      destroyed: (o) => m.destroySeconds.observe({ runtime: o.runtime }, o.seconds),
      poolClaim: (runtime, hit) => m.poolClaims.inc({ runtime, result: hit ? 'hit' : 'miss' }),
      process: (id, runtime, what, entry) => {
        const tell = (project: string | undefined) => {
          if (project === undefined) return;
          if (what === 'started') {
            m.execStarted.inc({ runtime, project });
            this.emit({ type: 'sandbox.exec_started', project, sandbox: id, runtime, data: { processId: entry.facts.id } });
            return;
          }
          const exit = entry.exit;
          const durationMs = Math.round((entry.endedMs ?? Date.now()) - entry.facts.startedMs);
          m.execSeconds.observe({ runtime }, durationMs / 1000);
          const data = { processId: entry.facts.id, ...(exit ? { reason: exit.reason, exitCode: exit.code, signal: exit.signal } : {}), durationMs };
          this.emit({ type: 'sandbox.exec_ended', project, sandbox: id, runtime, data });
          // A process the memory limit killed, in a sandbox that goes on.
          if (exit?.reason === 'oom')
            this.emit({
              type: 'sandbox.oom',
              project,
              sandbox: id,
              runtime,
              data: { processId: entry.facts.id, reason: 'oom', detail: 'the memory limit killed a process' },
            });
        };
        // Known sandboxes are told at once; the first process of one waits for its record.
        const known = this.#projects.get(id);
        if (known !== undefined) tell(known);
        else void this.#projectOf(id).then(tell);
      },
    };
  }

  /** The sandbox store as the service should use it: state changes become events and stop counters. */
  wrapStore(inner: SandboxStore): SandboxStore {
    this.#lookup = (id) => inner.get(id);
    return observedSandboxStore(inner, {
      event: (e) => this.emit(e),
      stopped: (r) => {
        this.#projects.delete(r.id);
        if (r.stopReason) this.metrics.stopped.inc({ runtime: r.runtime, reason: r.stopReason });
        if (r.stopReason === 'agent_protocol') this.metrics.protocolViolations.inc({ runtime: r.runtime });
      },
    });
  }

  emit(e: EventInput): void {
    try {
      this.events.append(e);
      this.metrics.eventsEmitted.inc({ type: e.type });
    } catch (err) {
      // The event log is an observer: a full disk must not fail the sandbox operation that told it.
      this.#log.error({ err, type: e.type, sandbox: e.sandbox }, 'recording a lifecycle event failed');
    }
  }

  /** Aborts when the server stops: long streams (events, stats follow) end, so closing the listener is not held up by them. */
  get streamsEnd(): AbortSignal {
    return this.#streams.signal;
  }

  /** Ends the long streams; called before the listener closes (it waits for open connections). */
  endStreams(): void {
    this.#streams.abort();
  }

  async close(): Promise<void> {
    this.endStreams();
    this.events.flush();
    await this.webhooks.close();
    this.#db.close();
  }

  async #projectOf(id: string): Promise<string | undefined> {
    const known = this.#projects.get(id);
    if (known !== undefined) return known;
    const r = await this.#lookup?.(id).catch(() => undefined);
    // A sandbox waiting in a warm pool is nobody's yet: its processes (if any) are not told.
    if (!r || r.pool !== null) return undefined;
    if (this.#projects.size < 100_000) this.#projects.set(id, r.project);
    return r.project;
  }
}
