/**
 * Health and metrics over HTTP: GET /healthz (200/503 JSON), GET /metrics (Prometheus text); with a line
 * view provider also the line view page under /view (view-routes.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { LineViewProvider } from '../contracts/line-view.js';
import { TOKEN_COOKIE, ViewRoutes } from './view-routes.js';
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
  /** Bearer token every request must carry (http.tokenFile); null: none asked. */
  private token: Buffer | null = null;
  private stopped = false;
  private readonly view: ViewRoutes | null;

  constructor(opts: { config: HttpConfig; metrics: Metrics; health: HealthFn; logger: Logger; view?: LineViewProvider }) {
    this.config = opts.config;
    this.metrics = opts.metrics;
    this.health = opts.health;
    this.logger = opts.logger.child({ component: 'http' });
    this.view = opts.view ? new ViewRoutes(opts.view, this.logger) : null;
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, 'HTTP server was stopped and cannot be reopened');
    if (this.server) return;
    this.token = this.config.tokenFile ? await readToken(this.config.tokenFile) : null;
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    const host = this.config.host || '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new InspectdError(ErrorCodes.USAGE, `HTTP server cannot listen on ${host}:${this.config.port}: ${err.message}; change http.port or set http.enabled: false`, {
            cause: err,
          }),
        ),
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
    this.view?.close(); // event streams never go idle: end them, so close() need not wait them out
    server.closeIdleConnections();
    // Requests still running get a moment, then their sockets go too.
    const timer = setTimeout(() => server.closeAllConnections(), 1000);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    try {
      const view = this.view && (url === '/' || url === '/view' || url.startsWith('/view/'));
      if (view && (req.method === 'GET' || req.method === 'HEAD')) {
        // The page's images and event stream cannot send a header: a cookie, set by /view?token=, stands in for it.
        const authorized = !this.token || bearerMatches(req.headers.authorization, this.token) || cookieMatches(req.headers.cookie, this.token);
        await this.view!.handle(req, res, url, { authorized, tokenMatches: (t) => this.token !== null && tokenEquals(t, this.token) });
      } else if (this.token && !bearerMatches(req.headers.authorization, this.token)) {
        send(res, 401, 'application/json', JSON.stringify({ error: 'unauthorized: send Authorization: Bearer <token from http.tokenFile>' }), {
          'www-authenticate': 'Bearer realm="inspectd"',
        });
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
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

async function readToken(file: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InspectdError(ErrorCodes.CONFIG_READ, `cannot read http.tokenFile ${file}: ${errorMessage(err)}; check the path and that the inspectd user may read it`, {
      cause: err,
    });
  }
  const token = text.split(/\r?\n/)[0].trim();
  if (token.length < 16) throw new InspectdError(ErrorCodes.CONFIG_INVALID, `http.tokenFile ${file}: the token (first line) must have at least 16 characters`);
  return Buffer.from(token);
}

/** Constant-time comparison, so response timing says nothing about how much of a guess was right. */
function bearerMatches(header: string | undefined, token: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? tokenEquals(m[1], token) : false;
}

function cookieMatches(header: string | undefined, token: Buffer): boolean {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== TOKEN_COOKIE) continue;
    try {
      return tokenEquals(decodeURIComponent(part.slice(eq + 1).trim()), token);
    } catch {
      return false; // malformed escape
    }
  }
  return false;
}

function tokenEquals(given: string, token: Buffer): boolean {
  const g = Buffer.from(given);
  return g.length === token.length && timingSafeEqual(g, token);
}
