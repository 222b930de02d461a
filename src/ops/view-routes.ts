/**
 * The line view's routes (src/ops/http.ts hands them every GET under /view):
 *   /view                 the page (view-page.ts: inline CSS and JS, nothing fetched from elsewhere)
 *   /view?token=T         with http.tokenFile: checks T, sets it as an HttpOnly SameSite=Strict cookie, back to /view
 *   /view/state           JSON: the daemon panel, cameras and the recent strip
 *   /view/events          server-sent events: state (1/s), item (a reject), frame (a new live JPEG is ready)
 *   /view/live/<cam>.jpg  the camera's latest annotated JPEG (encoded once, whoever asks)
 *   /view/snapshots/<f>   a reject snapshot, read-only from snapshots.dir (plain names only)
 * A slow viewer's stream skips frame events while its socket buffer is full, so it costs nothing to others.
 */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { LineViewProvider, ViewEvent } from '../contracts/line-view.js';
import { errorMessage } from '../errors.js';
import type { Logger } from './log.js';
import { VIEW_PAGE, loginPage } from './view-page.js';

export const TOKEN_COOKIE = 'inspectd_token';

/** Bytes queued on a viewer's socket above which frame events are skipped for it. */
const SLOW_VIEWER_BYTES = 64 * 1024;
const HEARTBEAT_MS = 15_000;
const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.jpg$/;
const CAMERA_JPEG = /^\/view\/live\/([A-Za-z0-9_-]{1,64})\.jpg$/;

export interface ViewAuth {
  /** The request carried the token (header or cookie), or none is asked. */
  authorized: boolean;
  tokenMatches: (given: string) => boolean;
}

export class ViewRoutes {
  private readonly streams = new Set<http.ServerResponse>();

  constructor(
    private readonly view: LineViewProvider,
    private readonly logger: Logger,
  ) {}

  /** Ends every event stream (the server is stopping; the page reconnects to the next one). */
  close(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: string, auth: ViewAuth): Promise<void> {
    if (url === '/') return reply(res, 302, 'text/plain', 'see /view', { location: '/view' });
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const given = query.get('token');
    if (url === '/view' && given !== null) {
      if (!auth.tokenMatches(given)) return reply(res, 401, 'text/html; charset=utf-8', loginPage('That token is not the one in http.tokenFile.'));
      return reply(res, 303, 'text/plain', 'signed in', {
        location: '/view',
        'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/view`,
      });
    }
    if (!auth.authorized) {
      if (url === '/view') return reply(res, 401, 'text/html; charset=utf-8', loginPage(null));
      return reply(res, 401, 'application/json', JSON.stringify({ error: 'unauthorized: open /view?token=<token from http.tokenFile> or send Authorization: Bearer <token>' }));
    }
    if (url === '/view') return reply(res, 200, 'text/html; charset=utf-8', VIEW_PAGE);
    if (url === '/view/state') return reply(res, 200, 'application/json', JSON.stringify({ state: this.view.state(), recent: this.view.recent() }));
    if (url === '/view/events') return this.events(req, res);
    const live = CAMERA_JPEG.exec(url);
    if (live) {
      const latest = this.view.latestJpeg(live[1]!);
      if (!latest) return reply(res, 404, 'application/json', JSON.stringify({ error: `no live image of camera ${live[1]} yet` }));
      return reply(res, 200, 'image/jpeg', latest.jpeg, { 'x-inspectd-seq': String(latest.seq) });
    }
    if (url.startsWith('/view/snapshots/')) return this.snapshot(res, url.slice('/view/snapshots/'.length));
    return reply(
      res,
      404,
      'application/json',
      JSON.stringify({ error: 'not found', paths: ['/view', '/view/state', '/view/events', '/view/live/<camera>.jpg', '/view/snapshots/<file>'] }),
    );
  }

  private events(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.socket?.setNoDelay(true);
    // The browser retries after a second when the daemon goes away (restart); the page also reopens a closed stream.
    res.write('retry: 1000\n\n');
    write(res, 'hello', { state: this.view.state(), recent: this.view.recent() });
    const unwatch = this.view.watch((e: ViewEvent) => {
      if (e.type === 'frame') {
        if (res.writableLength > SLOW_VIEWER_BYTES) return;
        write(res, 'frame', { camera: e.camera, seq: e.seq });
      } else if (e.type === 'state') write(res, 'state', e.state);
      else write(res, 'item', e.item);
    });
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    this.streams.add(res);
    res.on('close', () => {
      clearInterval(heartbeat);
      unwatch();
      this.streams.delete(res);
    });
  }

  private async snapshot(res: http.ServerResponse, raw: string): Promise<void> {
    const dir = this.view.snapshotDir();
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      name = '';
    }
    // A plain file name only (no separators, no dot-dot, no hidden files), and it must resolve inside the folder.
    if (!dir || !SNAPSHOT_NAME.test(name) || name.includes('..')) return reply(res, 404, 'application/json', JSON.stringify({ error: 'no such snapshot' }));
    const root = path.resolve(dir);
    const file = path.resolve(root, name);
    if (path.dirname(file) !== root) return reply(res, 404, 'application/json', JSON.stringify({ error: 'no such snapshot' }));
    try {
      const st = await fsp.lstat(file);
      if (!st.isFile()) return reply(res, 404, 'application/json', JSON.stringify({ error: 'no such snapshot' }));
      return reply(res, 200, 'image/jpeg', await fsp.readFile(file), { 'cache-control': 'private, max-age=3600' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ file, err: errorMessage(err) }, 'snapshot not served');
      return reply(res, 404, 'application/json', JSON.stringify({ error: 'no such snapshot' }));
    }
  }
}

function write(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function reply(res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
