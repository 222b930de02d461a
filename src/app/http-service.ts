/**
 * The HTTP endpoint (health, metrics, the line view, the inference API). Observers use it; inspection and rejects must
 * not depend on a free port, so a failure to listen is reported (status topic `httpError`, log) and the daemon runs on.
 */
import type { HttpConfig } from '../config/types.js';
import type { InferenceApi } from '../contracts/inference-api.js';
import type { LineViewProvider } from '../contracts/line-view.js';
import type { HealthInfo } from '../contracts/ops.js';
import { errorMessage } from '../errors.js';
import type { HttpServer } from '../ops/http.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import { packageVersion } from '../util/package.js';
import type { DaemonParts } from './parts.js';

export class HttpService {
  private server: HttpServer | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly opts: { create: DaemonParts['createHttp']; metrics: Metrics; health: () => HealthInfo; logger: Logger; view?: LineViewProvider; api?: InferenceApi },
  ) {}

  get error(): string | null {
    return this.lastError;
  }

  async start(config: HttpConfig): Promise<void> {
    try {
      const { metrics, health, logger, view, api } = this.opts;
      const server = await this.opts.create({ config, metrics, health, logger, version: packageVersion(), ...(view ? { view } : {}), ...(api ? { api } : {}) });
      await server?.start();
      this.server = server;
      this.lastError = null;
    } catch (err) {
      this.lastError = errorMessage(err);
      this.opts.logger.error({ err: this.lastError }, 'http health/metrics server could not start; running without it (fix http.host/http.port)');
    }
  }

  /** The rest of a reload is applied even when the new settings cannot listen: http stays down until the next valid edit. */
  async reconfigure(config: HttpConfig): Promise<void> {
    await this.stop().catch((err) => this.opts.logger.warn({ err: errorMessage(err) }, 'http server did not stop cleanly'));
    await this.start(config);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    await s?.stop();
  }
}
