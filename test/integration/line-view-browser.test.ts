/**
 * The line view in a real browser: Debian's headless chromium (puppeteer-core, no browser download) against
 * `inspectd run` as a child process on the demo model, with a synthetic line camera, an ffmpeg camera
 * (a looped still image, killable) and mosquitto. It sees the live image change, a new reject in the strip
 * within 2 s of its MQTT message, a camera fault when its ffmpeg is killed, a rejected config edit with
 * file:line, and the page reconnecting after the daemon restarts. Screenshots at 390x844 and 1920x1080 go
 * to test-output/line-view/ (git-ignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'puppeteer-core';
import { freePort, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { InspectdProcess, MqttRecorder, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const skip = (!existsSync(CHROMIUM) && `${CHROMIUM} not installed (apt-get install chromium)`) || mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');
const OUT = path.join(REPO_ROOT, 'test-output', 'line-view');
const DEMO_MODEL = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');

async function shoot(page: Page, name: string): Promise<string[]> {
  const files: string[] = [];
  for (const [w, h] of [
    [390, 844],
    [1920, 1080],
  ] as const) {
    await page.setViewport({ width: w, height: h });
    await new Promise((r) => setTimeout(r, 300));
    const file = path.join(OUT, `${name}-${w}x${h}.png`);
    await page.screenshot({ path: file as `${string}.png`, fullPage: w < 1000 });
    files.push(file);
  }
  await page.setViewport({ width: 1280, height: 900 });
  return files;
}

test('line view in chromium: live image, reject strip, camera fault, config error, daemon restart', { skip, timeout: 180_000 }, async (t) => {
  const { default: puppeteer } = await import('puppeteer-core');
  const tmp = tempDir('inspectd-view-');
  t.after(() => tmp.cleanup());
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/lv/#');
  t.after(() => rec.stop());

  const still = path.join(tmp.dir, 'still.png');
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#406080' } })
    .png()
    .toFile(still);
  const port = await freePort();
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const cfg = {
    device: { id: 'lv' },
    model: { path: DEMO_MODEL, threads: 1 },
    cameras: [
      {
        id: 'line1',
        source: { type: 'synthetic', fps: 5, width: 640, height: 480, seed: 7, defectRate: 0.5 },
        decision: 'frame',
        rules: {
          rejectClasses: ['scratch', 'dent', 'stain', 'missing_hole'],
          zones: [
            {
              name: 'belt',
              polygon: [
                [10, 10],
                [630, 10],
                [630, 470],
                [10, 470],
              ],
            },
          ],
        },
      },
      {
        id: 'cam2',
        source: { type: 'ffmpeg', input: still, inputArgs: ['-loop', '1', '-framerate', '2'], realtime: true, width: 320, height: 240 },
        stallTimeoutMs: 60_000,
        rules: { rejectClasses: ['scratch'] },
      },
    ],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: true, dir: path.join(tmp.dir, 'snaps') },
    http: { port },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, cfg);
  const env: NodeJS.ProcessEnv = { ...process.env, INSPECTD_LOG_LEVEL: 'info', STATE_DIRECTORY: tmp.dir };
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  let daemon = new InspectdProcess(['--config', cfgFile], env);
  t.after(() => daemon.kill());
  await rec.until(
    () => rec.json<any>('status/json').some((s) => s.state === 'online'),
    60_000,
    () => `daemon online\n${daemon.tail()}`,
  );

  const browser: Browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox', '--disable-gpu'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(`http://127.0.0.1:${port}/view`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#conn[data-live="true"]', { timeout: 10_000 });

  // Live image: decoded, then replaced by a later frame.
  // Browser-side expressions are strings: the test compiles without the DOM library.
  const seqOf = (cam: string) => `Number(document.querySelector('[data-camera="${cam}"] img')?.getAttribute('data-seq') ?? -1)`;
  // data-seq is set when a frame arrives, its pixels once decoded: wait for both, a loaded machine parts them.
  const decoded = (cam: string) => `(document.querySelector('[data-camera="${cam}"] img')?.naturalWidth ?? 0) > 0`;
  await page.waitForFunction(`${decoded('line1')} && ${seqOf('line1')} >= 0`, { timeout: 20_000 });
  const first = (await page.evaluate(seqOf('line1'))) as number;
  assert.ok(first >= 0, 'a live image of line1 is shown');
  await page.waitForFunction(`${decoded('line1')} && ${seqOf('line1')} > ${first}`, { timeout: 20_000 });
  assert.ok(((await page.evaluate(seqOf('line1'))) as number) > first, 'the live image changes');
  const width = await page.evaluate(`document.querySelector('[data-camera="line1"] img').naturalWidth`);
  assert.equal(width, 640, 'the live JPEG has the frame size (under 960 px: not scaled)');

  // A reject published from now on is in the strip within 2 s of its MQTT message.
  const before = rec.on('line1/reject').length;
  await rec.until(() => rec.on('line1/reject').length > before, 15_000, 'a new reject on MQTT');
  const msg = rec.on('line1/reject')[before]!;
  const key = (JSON.parse(msg.text) as { key: string }).key;
  await page.waitForSelector(`#strip [data-key="${key}"]`, { timeout: Math.max(1, msg.at + 2000 - Date.now()) });
  assert.ok(Date.now() - msg.at <= 2000 + 100, 'shown within 2 s of the MQTT message');
  // Its snapshot arrives once written; a click opens the full image.
  await page.waitForFunction(`(document.querySelector('#strip [data-key="${key}"] img')?.naturalWidth ?? 0) > 0`, { timeout: 10_000 });
  await page.click(`#strip [data-key="${key}"]`);
  await page.waitForFunction(`document.querySelector('#lightbox img').naturalWidth === 640`, { timeout: 5000 });
  await page.click('#lightbox');
  const panel = await page.$eval('#daemon-section', (e) => e.textContent ?? '');
  assert.match(panel, /inspectd-demo\.onnx/);
  assert.match(panel, /scratch, dent, stain, missing_hole/);
  assert.match(await page.$eval('#engine', (e) => e.textContent ?? ''), /^ort-/);
  assert.equal(await page.$eval('#broker', (e) => e.textContent), 'connected');
  const shots = await shoot(page, 'live');

  // Camera fault: cam2's still image is gone and its ffmpeg killed, so the restart fails too.
  await page.waitForSelector('[data-camera="cam2"][data-state="ok"]', { timeout: 15_000 });
  const pids = daemon.ffmpegPids();
  assert.ok(pids.length > 0, 'cam2 runs ffmpeg');
  rmSync(still);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await page.waitForSelector('[data-camera="cam2"][data-state="fault"]', { timeout: 15_000 });
  const why = await page.$eval('[data-camera="cam2"] .why', (e) => e.textContent ?? '');
  assert.match(why, /^FAULT: .+/, 'the fault shows its reason');
  assert.equal(await page.$eval('[data-camera="line1"]', (e) => e.getAttribute('data-state')), 'ok', 'the other camera stays ok');

  // An invalid edit: kept out, shown with file:line.
  writeYaml(cfgFile, { ...cfg, cameras: [{ ...cfg.cameras[0], deadlineMs: -5 }, cfg.cameras[1]] });
  await page.waitForFunction(`document.querySelector('#config-error').style.display === 'block'`, { timeout: 15_000 });
  const cfgErr = await page.$eval('#config-error', (e) => e.textContent ?? '');
  assert.match(cfgErr, /config\.yaml:\d+:\d+/, `config error names file:line: ${cfgErr}`);
  assert.match(cfgErr, /deadlineMs/);
  shots.push(...(await shoot(page, 'fault')));

  // Daemon restart on the same port: the page says so, then reconnects and shows live images again.
  daemon.signal('SIGTERM');
  assert.equal(await daemon.waitExit(30_000), 0, daemon.tail());
  await page.waitForSelector('#conn[data-live="false"]', { timeout: 10_000 });
  writeYaml(cfgFile, cfg);
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#406080' } })
    .png()
    .toFile(still);
  daemon = new InspectdProcess(['--config', cfgFile], env);
  await page.waitForSelector('#conn[data-live="true"]', { timeout: 60_000 });
  await page.waitForFunction(`${seqOf('line1')} >= 0`, { timeout: 20_000 });
  assert.equal(await page.evaluate(`document.querySelector('#config-error').style.display`), 'none', 'the restarted daemon has no config error');

  assert.deepEqual(pageErrors, [], 'no script errors on the page');
  t.diagnostic(`screenshots: ${shots.join(', ')}`);
  daemon.signal('SIGTERM');
  assert.equal(await daemon.waitExit(30_000), 0, daemon.tail());
});
