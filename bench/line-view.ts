/**
 * `npm run bench:line-view [-- --rounds 3 --window-s 5 --threads 1]`: what the line view costs the pipeline.
 * The real daemon in this process on the demo model with a synthetic line offered faster than the engine
 * runs (so throughput is the pipeline's ceiling), then windows with 0, 1 and 5 viewers connected, interleaved
 * round by round (0,1,5 / 1,5,0 / 5,0,1 ...) so drift in the box's load hits every case alike. A viewer is
 * what the page does: /view/events open, and on every `frame` event one GET of the camera's JPEG (one in
 * flight). The viewers' HTTP clients run in this process too, so their own parsing is counted against the
 * daemon: an upper bound on what a browser elsewhere costs. Prints inferred frames/s per case and the ratio
 * to no viewer in the same round; never a pass/fail.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Daemon } from '../src/app/daemon.js';
import { validateConfigObject } from '../src/config/load.js';
import { DEMO_MODEL_RELPATH, DEMO_REJECT_CLASSES } from '../src/config/defaults.js';
import { silentLogger } from '../src/ops/log.js';
import { REPO_ROOT } from '../test/helpers/fixtures.js';
import { freePort } from '../test/helpers/mosquitto.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'window-s': { type: 'string', default: '5' }, threads: { type: 'string', default: '1' } } });
const ROUNDS = Number(values.rounds);
const WINDOW_MS = Number(values['window-s']) * 1000;
const CASES = [0, 1, 5] as const;

/** One page's worth of traffic: the event stream and a JPEG fetch per frame event, one at a time. */
class Viewer {
  private req: http.ClientRequest | null = null;
  private fetching = false;
  private wanted = false;
  jpegs = 0;
  bytes = 0;

  constructor(private readonly port: number) {}

  start(): void {
    this.req = http.get({ host: '127.0.0.1', port: this.port, path: '/view/events' }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (chunk.includes('event: frame')) this.fetch();
      });
    });
    this.req.on('error', () => undefined);
  }

  private fetch(): void {
    if (this.fetching) {
      this.wanted = true;
      return;
    }
    this.fetching = true;
    http
      .get({ host: '127.0.0.1', port: this.port, path: '/view/live/line1.jpg', agent: false }, (res) => {
        res.on('data', (c: Buffer) => (this.bytes += c.length));
        res.on('end', () => {
          if (res.statusCode === 200) this.jpegs++;
          this.fetching = false;
          if (this.wanted) {
            this.wanted = false;
            this.fetch();
          }
        });
      })
      .on('error', () => (this.fetching = false));
  }

  stop(): void {
    this.req?.destroy();
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'inspectd-bench-view-'));
const port = await freePort();
const loaded = validateConfigObject(
  {
    model: { path: path.join(REPO_ROOT, DEMO_MODEL_RELPATH), threads: Number(values.threads) },
    cameras: [{ id: 'line1', source: { type: 'synthetic', fps: 120, width: 640, height: 480, seed: 7, defectRate: 0.3 }, rules: { rejectClasses: [...DEMO_REJECT_CLASSES] } }],
    mqtt: { embedded: { host: '127.0.0.1', port: 0 } },
    outbox: { dir: path.join(tmp, 'outbox') },
    snapshots: { enabled: true, dir: path.join(tmp, 'snapshots'), maxFiles: 200 },
    http: { port },
    console: { summary: 'off' },
  },
  '<bench>',
  REPO_ROOT,
);
const daemon = new Daemon({ loaded, logger: silentLogger() });
await daemon.start();
const inferred = () => daemon.pipelineStats?.inferredTotal ?? 0;
await new Promise((r) => setTimeout(r, 2000)); // warm-up

process.stdout.write(`line view cost: demo model, ${values.threads} thread(s), synthetic 640x480 offered at 120 fps, ${ROUNDS} rounds of ${WINDOW_MS / 1000} s windows\n`);
const fps: Record<number, number[]> = { 0: [], 1: [], 5: [] };
const ratios: Record<number, number[]> = { 1: [], 5: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = CASES.map((_, i) => CASES[(i + round) % CASES.length]!);
  const got: Record<number, number> = {};
  for (const n of order) {
    const viewers = Array.from({ length: n }, () => new Viewer(port));
    for (const v of viewers) v.start();
    await new Promise((r) => setTimeout(r, 500)); // subscribed, first encode out of the way
    const start = inferred();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const rate = ((inferred() - start) * 1000) / (performance.now() - t0);
    for (const v of viewers) v.stop();
    const jpegs = viewers.reduce((a, v) => a + v.jpegs, 0);
    const kb = viewers.reduce((a, v) => a + v.bytes, 0) / 1024;
    got[n] = rate;
    fps[n]!.push(rate);
    process.stdout.write(`  round ${round + 1}: ${n} viewer(s): ${rate.toFixed(1)} frames/s inferred; viewers fetched ${jpegs} JPEGs (${kb.toFixed(0)} KiB)\n`);
    await new Promise((r) => setTimeout(r, 300));
  }
  for (const n of [1, 5]) ratios[n]!.push(got[n]! / got[0]!);
}
await daemon.stop();
rmSync(tmp, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
process.stdout.write('\nmedian over rounds (ratio: to no viewer in the same round):\n');
process.stdout.write(`  0 viewers: ${median(fps[0]!).toFixed(1)} frames/s\n`);
for (const n of [1, 5])
  process.stdout.write(
    `  ${n} viewer(s): ${median(fps[n]!).toFixed(1)} frames/s, ratio ${median(ratios[n]!).toFixed(3)} (rounds: ${ratios[n]!.map((r) => r.toFixed(3)).join(', ')})\n`,
  );
