/**
 * The daemon's HTTP server (fastify): GET /healthz (200/503 JSON), GET /metrics (Prometheus text); with a
 * line view provider the line view under /view (view-routes.ts, on the raw response: its event stream and
 * JPEGs are written directly); with an InferenceApi the inference routes (api-routes.ts) and /openapi.json.
 * With http.tokenFile every request carries `Authorization: Bearer <token>` (the view also takes its cookie).
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { InferenceApi } from '../contracts/inference-api.js';
import type { LineViewProvider } from '../contracts/line-view.js';
import { TOKEN_COOKIE, ViewRoutes } from './view-routes.js';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { HttpConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import type { Metrics } from './metrics.js';
import type { HealthInfo } from '../contracts/ops.js';
import { API_PATHS, registerApiRoutes, registerOpenApi, statusOf } from './api-routes.js';

type HealthFn = () => HealthInfo;

/** What the server reads of the http section; the API settings default as in the schema. */
export type HttpServerConfig = Pick<HttpConfig, 'enabled' | 'host' | 'port' | 'tokenFile'> & Partial<Pick<HttpConfig, 'maxQueueMs' | 'api'>>;

/** The schema's http.api defaults, for a config built without validation (tests). */
const API_DEFAULTS = { enabled: true, maxQueue: 16, maxConcurrent: 32, maxDecoding: 2, maxBodyBytes: 32 * 1024 * 1024, maxPixels: 40_000_000, retryAfterSec: 1 };
const BASE_PATHS = ['/healthz', '/metrics'];

export interface HttpServerOptions {
  config: HttpServerConfig;
  metrics: Metrics;
  health: HealthFn;
  logger: Logger;
  view?: LineViewProvider;
  api?: InferenceApi;
  /** The daemon's version, for /openapi.json and GET /v2. */
  version?: string;
}

export class HttpServer {
  private readonly config: HttpServerConfig;
  private readonly logger: Logger;
  private app: FastifyInstance | null = null;
  private boundPort = 0;
  /** Bearer token every request must carry (http.tokenFile); null: none asked. */
  private token: Buffer | null = null;
  private stopped = false;
  private readonly view: ViewRoutes | null;

  constructor(private readonly opts: HttpServerOptions) {
    this.config = opts.config;
    this.logger = opts.logger.child({ component: 'http' });
    this.view = opts.view ? new ViewRoutes(opts.view, this.logger) : null;
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, 'HTTP server was stopped and cannot be reopened');
    if (this.app) return;
    this.token = this.config.tokenFile ? await readToken(this.config.tokenFile) : null;
    const api = { ...API_DEFAULTS, ...this.config.api };
    const app = Fastify({
      logger: false,
      bodyLimit: api.maxBodyBytes,
      keepAliveTimeout: 5000,
      forceCloseConnections: 'idle',
      return503OnClosing: true,
      // A path with a malformed escape names nothing here (fastify would answer 400 before routing).
      frameworkErrors: (err, req, res) => {
        const reply = res as unknown as FastifyReply;
        if (err.code !== 'FST_ERR_BAD_URL') return reply.code(err.statusCode ?? 400).send({ error: err.message });
        return reply.code(404).send({ error: req.url.startsWith('/view/snapshots/') ? 'no such snapshot' : 'not found' });
      },
    });
    await this.routes(app, api);
    const host = this.config.host || '127.0.0.1';
    try {
      await app.listen({ port: this.config.port, host, listenTextResolver: () => '' });
    } catch (err) {
      await app.close().catch(() => undefined);
      throw new InspectdError(ErrorCodes.USAGE, `HTTP server cannot listen on ${host}:${this.config.port}: ${errorMessage(err)}; change http.port or set http.enabled: false`, {
        cause: err,
      });
    }
    app.server.on('error', (err) => this.logger.error({ err: err.message }, 'HTTP server error'));
    const addr = app.server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.config.port;
    this.app = app;
    this.logger.info({ host, port: this.boundPort, api: Boolean(this.opts.api && api.enabled) }, 'HTTP health/metrics listening');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const app = this.app;
    this.app = null;
    if (!app) return;
    this.view?.close(); // event streams never go idle: end them, so close() need not wait them out
    // Requests still running get a moment, then their sockets go too.
    const timer = setTimeout(() => app.server.closeAllConnections(), 1000);
    await app.close();
    clearTimeout(timer);
  }

  private async routes(app: FastifyInstance, api: typeof API_DEFAULTS): Promise<void> {
    const serveApi = this.opts.api !== undefined && api.enabled;
    const paths = [...BASE_PATHS, '/openapi.json', ...(serveApi ? API_PATHS : []), ...(this.view ? ['/view'] : [])];
    // First: it documents the routes registered after it.
    await registerOpenApi(app, this.opts.version ?? '0.0.0');
    app.addHook('onRequest', async (req, reply) => {
      (req as TimedRequest).startedAt = performance.now();
      // The view checks the token itself: its images and event stream cannot send a header, a cookie stands in.
      if (this.isViewRequest(req) || !this.token || bearerMatches(req.headers.authorization, this.token)) return;
      return reply.code(401).header('www-authenticate', 'Bearer realm="inspectd"').send({ error: 'unauthorized: send Authorization: Bearer <token from http.tokenFile>' });
    });
    app.addHook('onSend', async (_req, reply, payload) => {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });
    // One line per request, no bodies and no query (a /view?token= would carry the token).
    app.addHook('onResponse', async (req, reply) => {
      const ms = Math.round((performance.now() - ((req as TimedRequest).startedAt ?? performance.now())) * 10) / 10;
      this.logger.debug({ method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms }, 'http request');
    });
    app.setErrorHandler((err, req, reply) => {
      const { status, message, retryAfter } = statusOf(err, api.retryAfterSec);
      if (status >= 500 && retryAfter === undefined) this.logger.error({ path: req.url.split('?')[0], err: errorMessage(err) }, 'HTTP handler failed');
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
      return reply.code(status).send({ error: message });
    });
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found', paths }));

    const notAllowed = (_req: FastifyRequest, reply: FastifyReply) => reply.code(405).header('allow', 'GET, HEAD').send({ error: 'method not allowed' });
    app.get('/healthz', { schema: { summary: 'Daemon health: 200 when healthy, 503 with the reason', tags: ['ops'] } }, async (_req, reply) => {
      let body: HealthInfo | { ok: false; error: string };
      try {
        body = this.opts.health();
      } catch (err) {
        body = { ok: false, error: errorMessage(err) };
      }
      return reply.code(body.ok ? 200 : 503).send(body);
    });
    app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['ops'] } }, async (_req, reply) =>
      reply.type(this.opts.metrics.contentType()).send(await this.opts.metrics.text()),
    );
    for (const url of BASE_PATHS) app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH'], url, handler: notAllowed, schema: { hide: true } });

    if (this.view) {
      const view = this.view;
      const handler = async (req: FastifyRequest, reply: FastifyReply) => {
        reply.hijack();
        const url = req.url.split('?')[0];
        const authorized = !this.token || bearerMatches(req.headers.authorization, this.token) || cookieMatches(req.headers.cookie, this.token);
        try {
          await view.handle(req.raw, reply.raw, url, { authorized, tokenMatches: (t) => this.token !== null && tokenEquals(t, this.token) });
        } catch (err) {
          this.logger.error({ url, err: errorMessage(err) }, 'HTTP handler failed');
          if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal error' }));
          else reply.raw.destroy();
        }
      };
      for (const url of ['/', '/view', '/view/*']) app.get(url, { schema: { hide: true } }, handler);
    }
    if (serveApi) await registerApiRoutes(app, this.opts.api!, { ...api, version: this.opts.version ?? '0.0.0' });
  }

  private isViewRequest(req: FastifyRequest): boolean {
    if (!this.view || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const url = req.url.split('?')[0];
    return url === '/' || url === '/view' || url.startsWith('/view/');
  }
}

interface TimedRequest extends FastifyRequest {
  startedAt?: number;
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
