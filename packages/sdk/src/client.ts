/**
 * @module client
 * `Airlock`: the explicit client. It resolves its config once and owns the resource services;
 * there is no global client.
 *
 * ```ts
 * const airlock = new Airlock(); // AIRLOCK_URL, AIRLOCK_API_KEY
 * const sb = await airlock.sandboxes.create({ memoryMiB: 512 });
 * try {
 *   const { stdout } = await sb.exec(['python3', '-c', 'print(6*7)']);
 * } finally {
 *   await sb.destroy();
 * }
 * ```
 */
import { resolveConfig, type AirlockParams } from './config.js';
import { HttpClient } from './http.js';
import { ImageService } from './images.js';
import { PoolService } from './pools.js';
import { EventService, WebhookService } from './observe.js';
import { SandboxService } from './sandboxes.js';
import { AuditService, KeyService, ProjectService } from './tenancy.js';

export class Airlock {
  readonly sandboxes: SandboxService;
  readonly images: ImageService;
  readonly pools: PoolService;
  /** Projects and their quotas (admin keys; any key reads its own project). */
  readonly projects: ProjectService;
  /** API keys of projects (admin keys). */
  readonly keys: KeyService;
  /** The project's audit log. */
  readonly audit: AuditService;
  /** The project's lifecycle events (SSE) and its webhooks. */
  readonly events: EventService;
  readonly webhooks: WebhookService;
  readonly #http: HttpClient;

  /** Throws `AuthenticationError` when no API key is given or set in `AIRLOCK_API_KEY`. */
  constructor(params: AirlockParams = {}) {
    this.#http = new HttpClient(resolveConfig(params));
    this.sandboxes = new SandboxService(this.#http);
    this.images = new ImageService(this.#http);
    this.pools = new PoolService(this.#http);
    this.projects = new ProjectService(this.#http);
    this.keys = new KeyService(this.#http);
    this.audit = new AuditService(this.#http);
    this.events = new EventService(this.#http);
    this.webhooks = new WebhookService(this.#http);
  }

  /** The server's base URL, as resolved. */
  get url(): string {
    return this.#http.baseUrl;
  }
}
