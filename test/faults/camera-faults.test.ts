/**
 * Camera faults with real ffmpeg, one camera each, side by side in one daemon: a camera producing garbage bytes
 * (ffmpeg cannot decode its input), one whose image is truncated, one frozen (the same frame forever: frozenFrames
 * says so), one whose ffmpeg stalls without exiting (SIGSTOP: the stall watchdog restarts it) and one whose ffmpeg
 * is killed. Each fault is on the camera's state topic with a reason, restarts are spaced by the backoff (bounded),
 * the healthy cameras recover, and the other cameras' rejects keep flowing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { MqttRecorder, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { recordFaults } from '../helpers/fault-results.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { faultDaemonConfig, hasFfmpeg, loopedRejectCamera, rejectedImage } from '../helpers/reject-line.js';

const skip = mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');
const WATCH_MS = 8000;

/** The pid of the ffmpeg reading `input` (its own file, so one per camera), or undefined. */
function ffmpegReading(input: string): number | undefined {
  const r = spawnSync('pgrep', ['-f', '-x', `.*ffmpeg.*-i ${input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*`], { encoding: 'utf8' });
  const pids = (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
  return pids[0];
}

interface State {
  state: string;
  reason?: string;
}

test('garbage, truncated, frozen, stalled and killed cameras: each said with a reason, bounded restarts, the rest recover', { skip, timeout: 120_000 }, async (t) => {
  const tmp = tempDir('inspectd-camfault-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/cam/#');
  t.after(() => rec.stop());
  const image = await rejectedImage(tmp.dir);
  const input = (name: string) => path.join(tmp.dir, name);
  writeFileSync(input('garbage.bin'), Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 2654435761) >>> 24)));
  const png = readFileSync(image);
  writeFileSync(input('truncated.png'), png.subarray(0, png.length >> 1));
  for (const name of ['frozen.png', 'stall.png', 'kill.png']) copyFileSync(image, input(name));
  const cam = (id: string, file: string, over: Record<string, unknown> = {}) => ({ ...loopedRejectCamera(id, input(file), 2), ...over });
  const cameras = [
    { ...cam('garbage', 'garbage.bin'), source: { type: 'ffmpeg', input: input('garbage.bin'), realtime: true, width: 320, height: 240 } },
    cam('truncated', 'truncated.png'),
    cam('frozen', 'frozen.png', { frozenFrames: 6 }),
    cam('stall', 'stall.png', { stallTimeoutMs: 4000 }),
    cam('kill', 'kill.png'),
  ];
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, faultDaemonConfig(tmp.dir, 'cam', cameras, { url: broker.url }));
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger() });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const states = (id: string) => rec.json<State>(`/${id}/state`);
  const restarts = async (id: string) => {
    const text = await daemon.metricsRegistry!.registry.metrics();
    return Number(new RegExp(`source_restarts_total\\{camera="${id}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  const rejects = (id: string) => rec.on(`/${id}/reject`).length;
  await rec.until(
    () => rejects('stall') >= 2 && rejects('kill') >= 2,
    60_000,
    () =>
      `the healthy cameras reject: ${JSON.stringify(daemon.health().reason)} ${rec.messages.length} ${[...new Set(rec.messages.map((m) => m.topic))]} ${JSON.stringify(daemon.health().cameras)} ${JSON.stringify(daemon.pipelineStats?.counters('kill'))}`,
  );

  // The stalled one: ffmpeg stopped, not gone; the killed one: gone.
  const stalled = ffmpegReading(input('stall.png'));
  const killed = ffmpegReading(input('kill.png'));
  assert.ok(stalled && killed, 'both ffmpeg processes found');
  const seen = { stall: states('stall').length, kill: states('kill').length };
  process.kill(stalled, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(stalled, 'SIGKILL');
    } catch {
      // restarted and reaped already
    }
  });
  process.kill(killed, 'SIGKILL');
  const faultedAt = Date.now();
  const recovered: Record<string, number> = {};
  for (const id of ['stall', 'kill'] as const) {
    const since = () => states(id).slice(seen[id]);
    await rec.until(
      () => since().some((s) => s.state === 'fault'),
      15_000,
      () => `${id} in fault: ${JSON.stringify(since())}`,
    );
    await rec.until(
      () => since().at(-1)?.state === 'ok',
      30_000,
      () => `${id} ok again: ${JSON.stringify(since())}`,
    );
    recovered[id] = Date.now() - faultedAt;
    const after = rejects(id);
    await rec.until(() => rejects(id) > after, 15_000, `${id} rejects again`);
  }
  assert.match(
    states('stall')
      .slice(seen.stall)
      .find((s) => s.state === 'fault')!.reason ?? '',
    /camera stalled: no frame for \d+ ms/,
  );
  assert.notEqual(ffmpegReading(input('stall.png')), stalled, 'the stalled ffmpeg was replaced');

  await sleep(Math.max(0, WATCH_MS - (Date.now() - faultedAt)));
  for (const id of ['garbage', 'truncated']) {
    const fault = states(id).find((s) => s.state === 'fault');
    assert.ok(fault, `${id} is in fault: ${JSON.stringify(states(id))}`);
    // garbage: ffmpeg exits (Invalid data); truncated: ffmpeg keeps failing on each loop without a frame or an exit, which the stall watchdog catches
    assert.match(
      fault.reason ?? '',
      id === 'garbage' ? /exited with code 1: .*Invalid data/ : /camera stalled|exited with code/,
      `${id}: the reason says what failed: ${fault.reason}`,
    );
    assert.equal(rejects(id), 0, `${id}: nothing judged from it`);
  }
  assert.match(states('frozen').find((s) => s.state === 'fault')?.reason ?? '', /frozen frames: 6 identical consecutive frames/);
  // Backoff from 250 ms doubling: about 6 restarts in 10 s; one per failed start would be hundreds.
  const elapsedS = (Date.now() - faultedAt) / 1000 + 5;
  const restartCounts: Record<string, number> = {};
  for (const id of ['garbage', 'truncated', 'frozen', 'stall', 'kill']) restartCounts[id] = await restarts(id);
  for (const id of ['garbage', 'truncated'])
    assert.ok(restartCounts[id] >= 1 && restartCounts[id] <= 4 + elapsedS, `${id}: bounded restarts (${restartCounts[id]} in ~${Math.round(elapsedS)} s)`);
  await daemon.stop();
  const produced = daemon.pipelineStats!.counters('stall')!.rejects + daemon.pipelineStats!.counters('kill')!.rejects;
  await rec.until(() => rejects('stall') + rejects('kill') >= produced, 10_000, 'all rejects of the healthy cameras');
  recordFaults({
    test: 'camera faults (garbage, truncated, frozen, stall, kill)',
    faults: { 'camera garbage bytes': 1, 'camera truncated image': 1, 'camera frozen image': 1, 'camera stalled (SIGSTOP)': 1, 'camera ffmpeg killed': 1 },
    crashes: 0,
    produced,
    delivered: rejects('stall') + rejects('kill'),
    maxRecoveryMs: Math.max(...Object.values(recovered)),
  });
  t.diagnostic(`restarts: ${JSON.stringify(restartCounts)}; back to ok after: ${JSON.stringify(recovered)} ms`);
});
