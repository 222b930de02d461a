/**
 * Two `inspectd run` in one folder (the same ./var/outbox): the second refuses to start, naming the
 * directory and the pid of the first, with exit 78; the first runs on undisturbed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { InspectdProcess, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

test('a second daemon on the same outbox directory exits 78 naming the directory and the pid holding it', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-two-');
  t.after(() => tmp.cleanup());
  // A broker that accepts and stays silent is enough: the outbox is locked before MQTT starts.
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.resume();
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const outbox = path.join(tmp.dir, 'var', 'outbox');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, {
    device: { id: 'two' },
    model: { path: path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx'), engine: 'cpu', threads: 1 },
    cameras: [{ id: 'cam1', source: { type: 'synthetic', fps: 2 } }],
    mqtt: { url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}` },
    outbox: { dir: outbox },
    snapshots: { enabled: false },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  const first = new InspectdProcess(['--config', cfgFile], { ...process.env });
  t.after(() => first.kill());
  for (let i = 0; i < 600 && sockets.length === 0 && first.child.exitCode === null; i++) await sleep(25);
  assert.equal(sockets.length, 1, `the first daemon is past its outbox: ${first.tail()}`);

  const second = new InspectdProcess(['--config', cfgFile], { ...process.env });
  t.after(() => second.kill());
  const code = await second.waitExit(30_000);
  assert.equal(code, 78, second.tail());
  assert.ok(second.output.includes(`outbox directory ${outbox} is in use by another inspectd (pid ${first.child.pid};`), second.tail());
  assert.equal(sockets.length, 1, 'the second never connected');
  assert.equal(first.child.exitCode, null, 'the first runs on');

  first.signal('SIGTERM');
  assert.equal(await first.waitExit(20_000), 0, first.tail());
});

test('a passwordFile that cannot be read at start exits 78 naming the setting and the file (restarting cannot fix it)', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-nosecret-');
  t.after(() => tmp.cleanup());
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const missing = path.join(tmp.dir, 'mqtt-password');
  writeYaml(cfgFile, {
    device: { id: 'nosecret' },
    model: { path: path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx'), engine: 'cpu', threads: 1 },
    cameras: [{ id: 'cam1', source: { type: 'synthetic', fps: 2 } }],
    // Nothing listens there: the secret is read before any connection is tried.
    mqtt: { url: 'mqtt://127.0.0.1:9', username: 'inspectd', passwordFile: missing },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  const env = { ...process.env };
  delete env.CREDENTIALS_DIRECTORY;
  const daemon = new InspectdProcess(['--config', cfgFile], env);
  t.after(() => daemon.kill());
  assert.equal(await daemon.waitExit(30_000), 78, daemon.tail());
  assert.ok(daemon.output.includes(`cannot read mqtt.passwordFile ${missing}`), daemon.tail());
});
