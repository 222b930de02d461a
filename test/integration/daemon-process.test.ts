/**
 * `inspectd run --config X` as a child process with real parts: ffmpeg (a looped still image), the YOLOv8n
 * fixture on onnxruntime CPU, mosquitto, systemd notify datagrams to a receiver socket. Covers: documented
 * detections payloads, a killed camera process (fault then ok, same daemon), sd_notify READY/WATCHDOG and
 * no WATCHDOG while the source is stalled, invalid and valid config edits, SIGTERM (exit 0, offline,
 * empty outbox).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { REPO_ROOT, sharedFixture, sharedFixturesSkip } from '../helpers/fixtures.js';
import { tryLoadNativeAddon } from '../../src/native/loader.js';
import { MqttRecorder, tempDir, writeYaml } from './daemon-harness.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const hasPython = spawnSync('python3', ['-c', 'import socket']).status === 0;
const skip = sharedFixturesSkip() || mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');

/** A child running runCommand(), like `node dist/src/main.js run`, independent of the CLI table. */
function spawnDaemon(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const runJs = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'cli', 'run.js')).href;
  const code = `import(${JSON.stringify(runJs)}).then((m) => m.runCommand(process.argv.slice(1))).then((c) => process.exit(c), (e) => { console.error(e); process.exit(70); });`;
  return spawn(process.execPath, ['--input-type=module', '-e', code, '--', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function pidsMatching(marker: string): number[] {
  const r = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('inspectd run: ffmpeg -> yolov8n -> mosquitto; killed camera; sd_notify watchdog; config edits; SIGTERM', { skip, timeout: 150_000 }, async (t) => {
  const tmp = tempDir('inspectd-run-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/proc/#');
  t.after(() => rec.stop());

  // the image under a unique path: the marker that finds this test's ffmpeg and nothing else
  const image = path.join(tmp.dir, 'cam-marker-bus.jpg');
  symlinkSync(sharedFixture('images', 'bus.jpg'), image);

  // systemd notify receiver (Node cannot bind AF_UNIX datagram sockets)
  const native = tryLoadNativeAddon();
  const notifySocket = path.join(tmp.dir, 'notify.sock');
  const datagrams: { at: number; text: string }[] = [];
  let receiver: ChildProcess | null = null;
  if (native && hasPython) {
    receiver = spawn('python3', ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("BOUND",flush=True)\nwhile True:\n  print(s.recv(65536).decode().replace("\\n","|"),flush=True)', notifySocket], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => receiver?.kill('SIGKILL'));
    let buf = '';
    receiver.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        datagrams.push({ at: Date.now(), text: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
    });
    await rec.until(() => datagrams.some((d) => d.text === 'BOUND'), 5000, 'notify receiver');
  } else t.diagnostic('sd_notify checks skipped: ' + (native ? 'python3 not found' : 'native addon not built'));

  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const cfg = {
    device: { id: 'proc' },
    model: { path: sharedFixture('models', 'yolov8n-coco-int8.onnx'), engine: 'cpu', threads: 1 },
    cameras: [
      {
        id: 'cam1',
        source: { type: 'ffmpeg', input: image, inputArgs: ['-loop', '1', '-framerate', '4'], realtime: true, width: 270, height: 360 },
        deadlineMs: 5000,
        stallTimeoutMs: 60_000,
        rules: { rejectClasses: ['bus'] },
      },
    ],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { enabled: false },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, cfg);

  const env: NodeJS.ProcessEnv = { ...process.env, INSPECTD_LOG_LEVEL: 'info', STATE_DIRECTORY: tmp.dir };
  if (receiver) Object.assign(env, { NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '1000000' });
  const child = spawnDaemon(['--config', cfgFile], env);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of pidsMatching('cam-marker-bus')) process.kill(pid, 'SIGKILL');
  });
  const diag = () => out.slice(-3000);

  // (a) documented detections payload with COCO classes from the real model
  await rec.until(() => rec.json<any>('cam1/detections').some((d) => d.detections.some((x: any) => x.class === 'bus')), 60_000, () => 'bus detections\n' + diag());
  const d = rec.json<any>('cam1/detections').find((p) => p.detections.length > 0)!;
  assert.equal(d.camera, 'cam1');
  assert.equal(d.device, 'proc');
  assert.equal(d.frameId, `cam1:${d.seq}`);
  assert.deepEqual([d.width, d.height], [270, 360]);
  assert.equal(d.engine, 'ort-cpu');
  assert.ok(d.latency.inferenceMs > 0 && d.latency.totalMs >= d.latency.inferenceMs);
  const bus = d.detections.find((x: any) => x.class === 'bus');
  assert.equal(bus.classId, 5);
  assert.ok(bus.box.x2 <= 270 && bus.box.y2 <= 360 && bus.box.x1 >= 0, 'boxes in source pixels');
  await rec.until(() => rec.on('cam1/reject').length > 0, 20_000, 'a reject');
  const r = rec.json<any>('cam1/reject')[0];
  assert.match(r.key, /^proc:cam1:seq:\d+$/);
  assert.deepEqual(r.classes, ['bus']);
  const status = rec.json<any>('status/json').at(-1)!;
  assert.equal(status.engine, 'ort-cpu');
  assert.match(status.model.sha256, /^[0-9a-f]{64}$/);

  // (f) READY then WATCHDOG while frames flow
  if (receiver) {
    await rec.until(() => datagrams.some((x) => x.text.startsWith('READY=1')), 10_000, 'READY=1');
    await rec.until(() => datagrams.filter((x) => x.text === 'WATCHDOG=1').length >= 2, 10_000, 'WATCHDOG=1');
  }

  // (c) camera process killed: fault, then ok, same daemon
  const ffmpegPids = pidsMatching('cam-marker-bus');
  assert.equal(ffmpegPids.length, 1, 'one ffmpeg for the camera');
  const stateCount = rec.on('cam1/state').length;
  process.kill(ffmpegPids[0], 'SIGKILL');
  await rec.until(() => rec.json<any>('cam1/state').slice(stateCount).some((s) => s.state === 'fault'), 10_000, 'fault state');
  await rec.until(() => rec.json<any>('cam1/state').slice(stateCount).some((s) => s.state === 'ok'), 15_000, 'ok state again');
  assert.equal(child.exitCode, null, 'the daemon was not restarted');
  const newPids = pidsMatching('cam-marker-bus');
  assert.equal(newPids.length, 1);
  assert.notEqual(newPids[0], ffmpegPids[0]);

  // (f) a stalled source (ffmpeg stopped, not dead) stops the watchdog pings
  if (receiver) {
    process.kill(newPids[0], 'SIGSTOP');
    await sleep(2000); // the frame in flight finishes; one tick may still see its progress
    const from = Date.now();
    await sleep(2500);
    const pings = datagrams.filter((x) => x.at >= from && x.text === 'WATCHDOG=1').length;
    process.kill(newPids[0], 'SIGCONT');
    assert.equal(pings, 0, 'no WATCHDOG=1 while no frame reaches inference');
    const resumed = Date.now();
    await rec.until(() => datagrams.some((x) => x.at >= resumed && x.text === 'WATCHDOG=1'), 10_000, 'WATCHDOG after resume');
  }

  // (d) invalid edit keeps the old config (reported), valid threshold edit applies without restart
  writeFileSync(cfgFile, 'model: {conf: 7}\n');
  await rec.until(() => rec.json<any>('status/json').some((s) => s.lastConfigError), 10_000, () => 'lastConfigError\n' + diag());
  assert.match(out, /config rejected; keeping the previous one/);
  const afterBad = rec.on('cam1/detections').length;
  await rec.until(() => rec.on('cam1/detections').length > afterBad + 1, 10_000, 'frames after the invalid edit');
  const edited = structuredClone(cfg);
  (edited.cameras[0].rules as any).classConf = { bus: 0.999, person: 0.999 };
  writeYaml(cfgFile, edited);
  await rec.until(() => rec.json<any>('status/json').some((s) => s.lastConfigError === null && s.configHash !== status.configHash), 15_000, 'edit applied');
  const afterEdit = rec.on('cam1/detections').length;
  await rec.until(() => rec.on('cam1/detections').length > afterEdit + 2, 10_000, 'frames after the edit');
  const last = rec.json<any>('cam1/detections').at(-1)!;
  assert.equal(last.detections.filter((x: any) => x.class === 'bus' || x.class === 'person').length, 0);
  assert.equal(child.exitCode, null);

  // (e) SIGTERM: exit 0, offline, outbox empty
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 20_000)))]);
  clearTimeout(timer);
  assert.equal(code, 0, diag());
  await rec.until(() => rec.on('/status').some((m) => m.text === 'offline'), 5000, 'offline');
  assert.deepEqual(readdirSync(path.join(tmp.dir, 'outbox')).filter((f) => f.endsWith('.json')), []);
  assert.deepEqual(pidsMatching('cam-marker-bus'), [], 'ffmpeg stopped with the daemon');
  if (receiver) {
    assert.ok(datagrams.some((x) => x.text.startsWith('STOPPING=1')));
    t.diagnostic(`notify datagrams: ${datagrams.length}, watchdog pings: ${datagrams.filter((x) => x.text === 'WATCHDOG=1').length}`);
  }
  const keys = rec.json<any>('/reject').map((x) => x.key);
  assert.equal(new Set(keys).size, keys.length, 'no reject key twice');
  assert.ok(existsSync(cfgFile));
});
