/** Health and metrics over HTTP: GET /healthz (200/503 JSON), GET /metrics (Prometheus text). */
import http from 'node:http';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { HttpConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from './metrics.js';
import type { HealthInfo } from '../contracts/ops.js';

type HealthFn = () => HealthInfo;


export class HttpServer {
  private readonly config: HttpConfig;
  private readonly metrics: Metrics;
  private readonly health: HealthFn;
  private readonly logger: Logger;
  private server: http.Server | null = null;
  private boundPort = 0;
  private stopped = false;

  constructor(opts: { config: HttpConfig; metrics: Metrics; health: HealthFn; logger: Logger }) {
    this.config = opts.config;
    this.metrics = opts.metrics;
    this.health = opts.health;
    this.logger = opts.logger.child({ component: 'http' });
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, 'HTTP server was stopped and cannot be reopened');
    if (this.server) return;
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    const host = this.config.host || '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new InspectdError(ErrorCodes.USAGE, `HTTP server cannot listen on ${host}:${this.config.port}: ${err.message}; change http.port or set http.enabled: false`, { cause: err })),
      );
      server.listen(this.config.port, host, () => resolve());
    });
    server.on('error', (err) => this.logger.error({ err: err.message }, 'HTTP server error'));
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.config.port;
    this.server = server;
    this.logger.info({ host, port: this.boundPort }, 'HTTP health/metrics listening');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    // Requests still running get a moment, then their sockets go too.
    const timer = setTimeout(() => server.closeAllConnections(), 1000);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }), { allow: 'GET, HEAD' });
      } else if (url === '/healthz') {
        let body: HealthInfo | { ok: false; error: string };
        try {
          body = this.health();
        } catch (err) {
          body = { ok: false, error: errorMessage(err) };
        }
        send(res, body.ok ? 200 : 503, 'application/json', JSON.stringify(body));
      } else if (url === '/metrics') {
        send(res, 200, this.metrics.contentType(), await this.metrics.text());
      } else {
        send(res, 404, 'application/json', JSON.stringify({ error: 'not found', paths: ['/healthz', '/metrics'] }));
      }
    } catch (err) {
      this.logger.error({ url, err: errorMessage(err) }, 'HTTP handler failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
      else res.destroy();
    }
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
