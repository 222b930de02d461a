/**
 * `inspectd run` as a child process and signals at awkward moments: while it is still loading (before the
 * run command has its own handlers), and while MQTT is connecting to a broker that accepted the TCP
 * connection but never answers. Either way SIGTERM is a clean stop: exit 0, the connection closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { InspectdProcess, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const DEMO_MODEL = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');

function config(dir: string, mqttUrl: string): string {
  const file = path.join(dir, 'config.yaml');
  writeYaml(file, {
    device: { id: 'sig' },
    model: { path: DEMO_MODEL, engine: 'cpu', threads: 1 },
    cameras: [{ id: 'cam1', source: { type: 'synthetic', fps: 2 } }],
    // keepalive 60 s: mqtt.js gives up a connect after max(2 s, keepalive), so a hang would last a minute.
    mqtt: { url: mqttUrl, keepaliveSec: 60 },
    outbox: { dir: path.join(dir, 'outbox') },
    snapshots: { enabled: false },
    http: { enabled: false },
    console: { summary: 'off' },
  });
  return file;
}

/** A TCP server that accepts and never says a word: an MQTT connect to it waits for a CONNACK forever. */
async function silentBroker(t: import('node:test').TestContext): Promise<{ url: string; sockets: net.Socket[]; closedByPeer: () => number }> {
  const sockets: net.Socket[] = [];
  let peerClosed = 0;
  const server = net.createServer((s) => {
    sockets.push(s);
    s.resume(); // read (and ignore) the CONNECT, so the peer's FIN is seen
    s.on('close', () => peerClosed++);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { url: `mqtt://127.0.0.1:${port}`, sockets, closedByPeer: () => peerClosed };
}

test('SIGTERM while `inspectd run` is still loading its modules is a clean stop (exit 0), not death by signal', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-sig-');
  t.after(() => tmp.cleanup());
  const broker = await silentBroker(t);
  const cfgFile = config(tmp.dir, broker.url);
  const marker = path.join(tmp.dir, 'marker');
  const go = path.join(tmp.dir, 'go');
  const register = path.join(REPO_ROOT, 'dist', 'test', 'helpers', 'delay-import-register.js');
  const proc = new InspectdProcess(['--config', cfgFile], {
    ...process.env,
    NODE_OPTIONS: `--import ${register}`,
    INSPECTD_TEST_MARKER: marker,
    INSPECTD_TEST_GO: go,
  });
  t.after(() => proc.kill());
  for (let i = 0; i < 400 && !existsSync(marker) && proc.child.exitCode === null; i++) await sleep(25);
  assert.ok(existsSync(marker), `the CLI reached its import of run.js: ${proc.tail()}`);
  proc.signal('SIGTERM');
  // The signal is delivered now; let the import go on either way (a held signal must still stop the run).
  await sleep(200);
  writeFileSync(go, 'go\n');
  const code = await proc.waitExit(30_000);
  assert.notEqual(code, 'timeout', `exited: ${proc.tail()}`);
  assert.equal(proc.child.signalCode, null, `not killed by the signal: ${proc.tail()}`);
  assert.equal(code, 0, proc.tail());
  assert.equal(broker.sockets.length, 0, 'stopped before it connected anywhere');
});

test('SIGTERM while MQTT is connecting ends the connect: exit 0, the connection closed', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-sig-');
  t.after(() => tmp.cleanup());
  const broker = await silentBroker(t);
  const cfgFile = config(tmp.dir, broker.url);
  const proc = new InspectdProcess(['--config', cfgFile], { ...process.env });
  t.after(() => proc.kill());
  for (let i = 0; i < 600 && broker.sockets.length === 0 && proc.child.exitCode === null; i++) await sleep(25);
  assert.equal(broker.sockets.length, 1, `the daemon opened its MQTT connection: ${proc.tail()}`);
  proc.signal('SIGTERM');
  const code = await proc.waitExit(20_000);
  assert.notEqual(code, 'timeout', `exited while the broker stays silent: ${proc.tail()}`);
  assert.equal(code, 0, proc.tail());
  assert.ok(
    proc.logs().some((l) => l.msg === 'inspectd stopped'),
    proc.tail(),
  );
  for (let i = 0; i < 100 && broker.closedByPeer() === 0; i++) await sleep(20);
  assert.equal(broker.closedByPeer(), 1, 'the connection is closed');
});
