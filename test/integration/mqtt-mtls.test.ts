/**
 * Mutual TLS against a real mosquitto (`require_certificate true`): the sink connects with its client
 * certificate and an encrypted key (passphrase from a file), is refused in words without one, and refuses a
 * server whose certificate another CA signed. Events stay in the outbox whenever it cannot connect.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { MqttSink } from '../../src/sink/mqtt-sink.js';
import { Outbox } from '../../src/sink/outbox.js';
import { captureLogger } from '../helpers/capture-log.js';
import type { MqttConfig, TlsConfig } from '../../src/config/types.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js';
import { rejectPayload } from '../helpers/messages.js';

const skip = mosquittoSkip() || opensslSkip();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tmpDir(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `inspectd-${name}-`));
  chmodSync(dir, 0o755); // mosquitto may drop privileges before reading the certificates
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cfg(url: string, tls: TlsConfig): MqttConfig {
  return {
    url,
    baseTopic: 'inspectd',
    detectionsQos: 0,
    protocolVersion: 5,
    publishDetections: true,
    keepaliveSec: 5,
    reconnectMs: 300,
    reconnectMaxMs: 30_000,
    embedded: { host: '127.0.0.1', port: 0 },
    tls,
  };
}

async function sinkFor(t: { after(fn: () => Promise<void>): void }, mqttCfg: MqttConfig, dir: string, logger: Logger) {
  const outbox = new Outbox({ config: { dir, maxBytes: 1e6, maxAgeMs: 60_000, rejectTtlMs: 60_000 }, logger });
  await outbox.start();
  const sink = new MqttSink({ mqtt: mqttCfg, outbox, deviceId: 'dev1', logger, version: 't', connectWaitMs: 2000 });
  t.after(async () => {
    await sink.stop();
    await outbox.stop();
  });
  return { sink, outbox };
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; !pred() && Date.now() < end; ) await sleep(20);
  return pred();
}

let pki: { dir: string; good: Pki; other: Pki } | undefined;
/** One PKI for both tests (RSA key generation is slow on a shared machine). */
function certs(): { dir: string; good: Pki; other: Pki } {
  if (!pki) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-mtls-'));
    chmodSync(dir, 0o755);
    pki = { dir, good: makePki(dir, 'good'), other: makePki(dir, 'other') };
  }
  return pki;
}
test.after(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

test('mTLS: client certificate + encrypted key (passphraseFile) connects and a reject is delivered; without a certificate it is refused and the reject kept', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const { good, dir } = certs();
  const broker = await startMosquitto({ tls: { ca: good.ca, cert: good.server.cert, key: good.server.key, requireClientCert: true } });
  t.after(() => broker.stop());

  // A subscriber with its own certificate sees what the sink delivers.
  const seen: string[] = [];
  const sub = mqtt.connect(broker.url, {
    ca: readFileSync(good.ca),
    cert: readFileSync(good.client.cert),
    key: readFileSync(good.client.key),
    passphrase: good.client.passphrase,
    reconnectPeriod: 200,
  } as mqtt.IClientOptions);
  t.after(() => sub.endAsync(true).catch(() => undefined));
  sub.on('message', (_topic, payload) => seen.push(payload.toString()));
  assert.ok(await until(() => sub.connected, 5000), 'subscriber with a client certificate connects');
  await sub.subscribeAsync('inspectd/dev1/+/reject', { qos: 1 });

  const passFile = path.join(dir, 'passphrase');
  writeFileSync(passFile, `${good.client.passphrase}\n`, { mode: 0o600 });
  const okLog = captureLogger();
  const ok = await sinkFor(
    t,
    cfg(broker.url, { ca: good.ca, cert: good.client.cert, key: good.client.key, passphraseFile: passFile, rejectUnauthorized: true }),
    tmpDir(t, 'ob'),
    okLog.logger,
  );
  await ok.sink.start(new AbortController().signal);
  assert.equal(ok.sink.connected, true, `connected with the client certificate: ${ok.sink.connectionError}`);
  await ok.sink.publishReject(rejectPayload({ key: 'mtls-1', captureWall: Date.now() }));
  assert.ok(await until(() => ok.outbox.depth === 0 && seen.length > 0, 5000), 'reject delivered (PUBACK) and received by the subscriber');
  assert.equal((JSON.parse(seen[0]) as { key: string }).key, 'mtls-1');
  assert.ok(!okLog.text().includes(good.client.passphrase), 'the passphrase is never logged');

  // No client certificate: the broker ends the handshake.
  const noCertLog = captureLogger();
  const noCert = await sinkFor(t, cfg(broker.url, { ca: good.ca, rejectUnauthorized: true }), tmpDir(t, 'ob'), noCertLog.logger);
  await noCert.sink.start(new AbortController().signal);
  assert.equal(noCert.sink.connected, false);
  await noCert.sink.publishReject(rejectPayload({ key: 'mtls-2', captureWall: Date.now() }));
  assert.equal(noCert.outbox.depth, 1, 'the reject waits in the outbox');
  assert.ok(await until(() => noCert.sink.connectionError !== null, 5000), 'a connection error is reported');
  assert.match(noCert.sink.connectionError ?? '', /^mqtt: TLS failed \(.*certificate.*\)/i);
  const warned = noCertLog.lines().find((l) => l.level === 40 && /TLS/.test(String(l.msg)));
  assert.ok(warned, `a warning names TLS: ${noCertLog.text().slice(-1500)}`);
  assert.match(String(warned.msg), /mqtt\.tls\.cert/);
  await sleep(1000);
  assert.equal(noCert.sink.connected, false, 'still refused after retries');
  assert.equal(seen.length, 1, 'nothing from the refused sink reached the broker');
});

test('mTLS: a server certificate from another CA is refused (rejectUnauthorized), the reject kept; a wrong passphrase fails start in words', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const { good, other } = certs();
  // The impostor: a broker whose certificate the other CA signed, trusting our client CA.
  const impostor = await startMosquitto({ tls: { ca: good.ca, cert: other.server.cert, key: other.server.key, requireClientCert: true } });
  t.after(() => impostor.stop());
  const log = captureLogger();
  const sink = await sinkFor(
    t,
    cfg(impostor.url, { ca: good.ca, cert: good.client.cert, key: good.client.key, passphrase: good.client.passphrase, rejectUnauthorized: true }),
    tmpDir(t, 'ob'),
    log.logger,
  );
  await sink.sink.start(new AbortController().signal);
  assert.equal(sink.sink.connected, false);
  await sink.sink.publishReject(rejectPayload({ key: 'impostor-1', captureWall: Date.now() }));
  assert.equal(sink.outbox.depth, 1);
  assert.match(sink.sink.connectionError ?? '', /^mqtt: TLS failed \(.*(certificate|verify).*\)/i);
  assert.ok(
    log.lines().some((l) => l.level === 40 && /not signed by mqtt\.tls\.ca/.test(String(l.msg))),
    `the warning says what to check: ${log.text().slice(-1500)}`,
  );
  assert.ok(!log.text().includes(good.client.passphrase), 'the inline passphrase is never logged');

  await assert.rejects(
    new MqttSink({
      mqtt: cfg(impostor.url, { ca: good.ca, cert: good.client.cert, key: good.client.key, passphrase: 'not-the-passphrase', rejectUnauthorized: true }),
      outbox: sink.outbox,
      deviceId: 'dev1',
      logger: log.logger,
      version: 't',
    }).start(new AbortController().signal),
    { code: 'INSPECTD_ERR_MQTT', message: /cannot load the MQTT TLS client key: the passphrase does not decrypt it/ },
  );
  await assert.rejects(
    new MqttSink({
      mqtt: cfg(impostor.url, { ca: good.ca, cert: good.client.cert, key: good.client.key, rejectUnauthorized: true }),
      outbox: sink.outbox,
      deviceId: 'dev1',
      logger: log.logger,
      version: 't',
    }).start(new AbortController().signal),
    { code: 'INSPECTD_ERR_MQTT', message: /the key is encrypted: set mqtt\.tls\.passphraseFile/ },
  );
});
