/**
 * Daemon start/stop/reload rules with fake parts injected through the constructor (no network, no model):
 * a signal aborts start-up, stop() stops every part in reverse even when one fails and keeps the failure,
 * a model edit that fails to load keeps the old model serving and is reported, a good one swaps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import path from 'node:path';
import { Daemon } from '../../src/app/daemon.js';
import { defaultParts, type DaemonParts } from '../../src/app/parts.js';
import { freePort } from '../helpers/mosquitto.js';
import type { EventSink } from '../../src/contracts/sink.js';
import type { Service } from '../../src/contracts/service.js';
import { Outbox } from '../../src/sink/outbox.js';
import { SnapshotWriter } from '../../src/sink/snapshots.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/log.js';
import { ErrorCodes, InspectdError } from '../../src/errors.js';
import { ScriptedDetector, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { SourceState } from '../../src/contracts/camera.js';

/** A real outbox (in the test's temp dir) that logs when it starts and stops. */
class LoggedOutbox extends Outbox {
  constructor(
    private readonly log: string[],
    opts: ConstructorParameters<typeof Outbox>[0],
  ) {
    super(opts);
  }
  override async start(): Promise<void> {
    this.log.push('start outbox');
    await super.start();
  }
  override async stop(): Promise<void> {
    this.log.push('stop outbox');
    await super.stop();
  }
}

function fakeParts(log: string[], over: Partial<DaemonParts> = {}): Partial<DaemonParts> {
  const sink: EventSink = {
    connected: true,
    connectionError: null,
    async start() {
      log.push('start mqtt');
    },
    async stop() {
      log.push('stop mqtt');
    },
    publishDetections() {},
    async publishReject() {},
    async publishVerdict() {},
    async publishState() {},
    publishStatus(info) {
      log.push(`status ${JSON.stringify(info.lastConfigError)}`);
      if (info.modelError) log.push(`model error ${(info.modelError as { message: string }).message}`);
    },
    onCommand() {},
  };
  return {
    createMetrics: async () => new Metrics(),
    createOutbox: async (config, logger) => new LoggedOutbox(log, { config, logger }),
    createSink: async () => sink,
    loadDetector: async (model) => {
      log.push(`load ${path.basename(model.path)}`);
      const d = new ScriptedDetector();
      const dispose = d.dispose.bind(d);
      d.dispose = async () => {
        log.push(`dispose ${path.basename(model.path)}`);
        await dispose();
      };
      return d;
    },
    createSupervisor: async ({ camera, onFrame, onState }) => {
      let timer: NodeJS.Timeout | undefined;
      let seq = 0;
      const sup: Service = {
        start() {
          log.push(`start camera ${camera.id}`);
          onState({ state: 'ok' });
          timer = setInterval(() => {
            const f: Frame = {
              cameraId: camera.id,
              seq: seq++,
              captureMono: performance.now(),
              captureWall: Date.now(),
              width: 8,
              height: 8,
              format: 'rgb24',
              data: Buffer.alloc(192),
            };
            onFrame(f);
          }, 20);
        },
        async stop() {
          clearInterval(timer);
          log.push(`stop camera ${camera.id}`);
        },
      };
      return sup;
    },
    createSnapshots: async () => null,
    createHttp: async () => null,
    watchdogIntervalMs: async () => null,
    ...over,
  };
}

async function setup(t: import('node:test').TestContext) {
  const tmp = tempDir('inspectd-life-');
  t.after(() => tmp.cleanup());
  for (const m of ['a.onnx', 'b.onnx', 'broken.onnx']) writeFileSync(path.join(tmp.dir, m), 'x');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const cfg = {
    device: { id: 'life' },
    model: { path: path.join(tmp.dir, 'a.onnx') },
    cameras: [{ id: 'c1', source: { type: 'synthetic' }, rules: { rejectClasses: ['scratch'] }, decision: 'frame' }],
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, cfg);
  return { tmp, cfgFile, cfg };
}

test('a signal during start-up aborts it; stop() undoes what had started', { timeout: 10_000 }, async (t) => {
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  const ac = new AbortController();
  const parts = fakeParts(log, {
    loadDetector: async () => {
      ac.abort(); // SIGTERM arrives while the model loads
      return new ScriptedDetector();
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts });
  await assert.rejects(daemon.start(ac.signal), { code: 'INSPECTD_ERR_LIFECYCLE', message: /aborted/ });
  assert.ok(!log.some((l) => l.startsWith('start camera')), 'no camera started after the abort');
  await daemon.stop();
  assert.deepEqual(log, ['start outbox', 'start mqtt', 'stop mqtt', 'stop outbox']);
  await assert.rejects(daemon.start(), { code: 'INSPECTD_ERR_LIFECYCLE' });
});

test('stop() stops every part in reverse order even when one fails, and rethrows the failure', { timeout: 10_000 }, async (t) => {
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  const base = fakeParts(log);
  const parts = fakeParts(log, {
    createSink: async (o) => {
      const s = await base.createSink!(o);
      const failing: EventSink = {
        ...s,
        connected: true,
        stop: async () => {
          log.push('stop mqtt');
          throw new Error('mqtt close failed');
        },
      };
      return failing;
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts });
  await daemon.start();
  assert.equal(daemon.ready, true);
  await assert.rejects(daemon.stop(), /mqtt close failed/);
  const stops = log.filter((l) => l.startsWith('stop') || l.startsWith('dispose'));
  assert.deepEqual(stops, ['stop camera c1', 'dispose a.onnx', 'stop mqtt', 'stop outbox']);
  await assert.rejects(daemon.stop(), /mqtt close failed/, 'idempotent: same outcome');
});

test('model edit: a model that fails to load keeps the old one serving (reported); a good one is warmed, then swapped', { timeout: 15_000 }, async (t) => {
  const { cfgFile, cfg } = await setup(t);
  const log: string[] = [];
  const base = fakeParts(log);
  const parts = fakeParts(log, {
    loadDetector: async (model) => {
      if (model.path.endsWith('broken.onnx')) throw new Error('not an ONNX model');
      return base.loadDetector!(model, silentLogger());
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const inferred = () => daemon.pipelineStats!.inferredTotal;
  const waitFor = async (pred: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(pred(), what);
  };
  await waitFor(() => inferred() > 2, 'frames flow');

  writeYaml(cfgFile, { ...cfg, model: { path: cfg.model.path.replace('a.onnx', 'broken.onnx') } });
  await waitFor(() => log.some((l) => l.startsWith('status {') && l.includes('not an ONNX model')), 'load failure reported on status');
  assert.equal(daemon.pipelineStats!.currentDetector.engineKind, 'scripted');
  const n = inferred();
  await waitFor(() => inferred() > n + 2, 'old model keeps serving');
  assert.ok(!log.includes('dispose a.onnx'));

  writeYaml(cfgFile, { ...cfg, model: { path: cfg.model.path.replace('a.onnx', 'b.onnx') } });
  await waitFor(() => log.includes('dispose a.onnx'), 'old model disposed after the swap');
  assert.ok(log.indexOf('load b.onnx') < log.indexOf('dispose a.onnx'));
  const m = inferred();
  await waitFor(() => inferred() > m + 2, 'new model serving');
  assert.match(log.filter((l) => l.startsWith('status')).at(-1)!, /^status null$/, 'error cleared by the good edit');
  assert.equal(daemon.pipelineStats!.counters('c1')!.dropped.error, 0);
});

test('mqtt edit: a new connection takes over without refusing a reject while the old one closes', { timeout: 15_000 }, async (t) => {
  const { cfgFile, cfg } = await setup(t);
  const log: string[] = [];
  let refused = 0;
  let accepted = 0;
  const sinks: string[] = [];
  const parts = fakeParts(log, {
    createSink: async (o) => {
      const name = o.mqtt.baseTopic;
      sinks.push(name);
      let closing = false;
      return {
        connected: true,
        connectionError: null,
        async start() {
          log.push(`start ${name}`);
        },
        async stop() {
          closing = true;
          await new Promise((r) => setTimeout(r, 200)); // flushing
          log.push(`stop ${name}`);
        },
        publishDetections() {},
        async publishReject() {
          if (closing) {
            refused++;
            throw new Error('sink is stopping');
          }
          accepted++;
        },
        async publishVerdict() {
          throw new Error('this test judges frames (decision: frame): no verdict expected');
        },
        async publishState() {},
        publishStatus() {},
        onCommand() {},
      } satisfies EventSink;
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const waitFor = async (pred: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(pred(), what);
  };
  await waitFor(() => accepted > 2, 'rejects flow');
  writeYaml(cfgFile, { ...cfg, mqtt: { ...cfg.mqtt, baseTopic: 'plant2' } });
  await waitFor(() => log.includes('start plant2'), 'new connection started');
  const n = accepted;
  await waitFor(() => accepted > n + 2, 'rejects flow on the new connection');
  assert.deepEqual(sinks, ['inspectd', 'plant2']);
  assert.ok(log.indexOf('stop inspectd') < log.indexOf('start plant2'));
  assert.equal(refused, 0, 'no reject refused during the switch');
});

test('watchdog expectation: a streaming camera is expected, a paused or faulted one is not', { timeout: 10_000 }, async (t) => {
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  let report: ((s: { state: 'ok' | 'fault'; reason?: string }) => void) | undefined;
  const base = fakeParts(log);
  const parts = fakeParts(log, {
    createSupervisor: async (o) => {
      report = o.onState;
      return base.createSupervisor!({ ...o, onFrame: () => undefined }); // frames never arrive
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  assert.equal(daemon.expectingFrames(), true, 'camera ok: frames expected');
  report!({ state: 'fault', reason: 'camera stalled' });
  assert.equal(daemon.expectingFrames(), false, 'camera in fault: its supervisor owns recovery');
  report!({ state: 'ok' });
  daemon.pipelineStats!.pause();
  assert.equal(daemon.expectingFrames(), false, 'paused');
  daemon.pipelineStats!.resume();
  assert.equal(daemon.expectingFrames(), true);
  assert.equal(daemon.health().cameras[0].state, 'ok');
});

test('a camera whose file ended is idle for the watchdog, healthy, and its state topic says ended', { timeout: 10_000 }, async (t) => {
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  const published: unknown[] = [];
  let report: ((s: SourceState) => void) | undefined;
  const base = fakeParts(log);
  const parts = fakeParts(log, {
    createSupervisor: async (o) => {
      report = o.onState;
      return base.createSupervisor!({ ...o, onFrame: () => undefined });
    },
    createSink: async (opts) => {
      const sink = await base.createSink!(opts);
      sink.publishState = async (camera, state) => void published.push({ camera, ...state });
      return sink;
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  assert.equal(daemon.expectingFrames(), true, 'camera ok: frames expected');
  report!({ state: 'ended', reason: 'end of input after 10 frames' });
  assert.equal(daemon.expectingFrames(), false, 'an ended file delivers no more frames: the watchdog must not be withheld');
  assert.deepEqual(daemon.health().cameras[0], { id: 'c1', state: 'ended', reason: 'end of input after 10 frames' });
  assert.equal(daemon.health().ok, true, 'a file played to its end is not a fault');
  assert.deepEqual(published.at(-1), { camera: 'c1', state: 'ended', reason: 'end of input after 10 frames' });
});

test('a background engine swap (onEngineChange) is logged, marked in metrics and on the status topic', { timeout: 10_000 }, async (t) => {
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  let change: ((kind: string, reason: string) => void) | undefined;
  let detector: ScriptedDetector | undefined;
  const metrics = new Metrics();
  const statuses: Record<string, unknown>[] = [];
  const base = fakeParts(log);
  const parts = fakeParts(log, {
    createMetrics: async () => metrics,
    loadDetector: async (_model, _logger, onEngineChange) => {
      change = onEngineChange;
      detector = new ScriptedDetector();
      return detector;
    },
    createSink: async (o) => {
      const s = await base.createSink!(o);
      const recording: EventSink = { ...s, connected: true, publishStatus: (info: Record<string, unknown>) => void statuses.push(info) };
      return recording;
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  assert.ok(change, 'the daemon passes onEngineChange to the detector load');
  assert.match(await metrics.text(), /inspectd_engine_info\{engine="scripted",model="a\.onnx"\} 1/);
  // the detector has swapped its engine (as Detector does after a background TensorRT build)
  Object.defineProperty(detector!, 'engineKind', { value: 'tensorrt' });
  const before = statuses.length;
  change!('tensorrt', 'engine built in the background');
  const text = await metrics.text();
  assert.match(text, /inspectd_engine_info\{engine="tensorrt",model="a\.onnx"\} 1/);
  assert.doesNotMatch(text, /engine="scripted"/, 'exactly one engine series');
  assert.ok(statuses.length > before, 'status re-published');
  assert.equal(statuses.at(-1)!.engine, 'tensorrt');
  assert.equal(daemon.health().engine, 'tensorrt');
});

test('a model that cannot be loaded at start keeps the daemon up and says why; fixing the config starts inspection', { timeout: 20_000 }, async (t) => {
  const { cfgFile, cfg, tmp } = await setup(t);
  writeYaml(cfgFile, { ...cfg, model: { path: path.join(tmp.dir, 'broken.onnx') } });
  const log: string[] = [];
  const notes: string[] = [];
  const notifier = {
    enabled: true,
    ready: (s?: string) => notes.push(`READY ${s ?? ''}`),
    watchdog: () => notes.push('WATCHDOG'),
    status: () => {},
    reloading: () => {},
    stopping: () => notes.push('STOPPING'),
  };
  const base = fakeParts(log, { watchdogIntervalMs: async () => 200 });
  const parts: Partial<DaemonParts> = {
    ...base,
    loadDetector: async (model, logger, onEngineChange) => {
      if (path.basename(model.path) === 'broken.onnx') throw new InspectdError(ErrorCodes.MODEL_INVALID, `${model.path} is not an ONNX model`);
      return base.loadDetector!(model, logger, onEngineChange);
    },
  };
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts, notifier });
  t.after(() => daemon.stop().catch(() => undefined));
  let started = false;
  const start = daemon.start().then(() => (started = true));
  const until = async (ok: () => boolean, what: string) => {
    for (let i = 0; i < 150 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ok(), what);
  };
  await until(() => log.some((l) => l.startsWith('model error')), 'the model error is published on the status topic');
  assert.match(log.find((l) => l.startsWith('model error'))!, /broken\.onnx is not an ONNX model/);
  assert.ok(
    notes.some((n) => /^READY no usable model: .*broken\.onnx/.test(n)),
    'systemd hears READY with the reason, so it neither times out nor restarts us',
  );
  await until(() => notes.includes('WATCHDOG'), 'watchdog pings while waiting: nothing is hung');
  assert.equal(started, false);
  assert.ok(!log.some((l) => l.startsWith('start camera')), 'no camera runs without a model');

  writeYaml(cfgFile, cfg); // the fix: a loadable model
  await start;
  assert.ok(log.includes('load a.onnx'));
  assert.ok(log.includes('start camera c1'));
  assert.equal(daemon.ready, true);
  assert.equal(daemon.statusInfo().modelError, null);
  await daemon.stop();
});

test('a signal while waiting for a usable model ends start-up promptly', { timeout: 10_000 }, async (t) => {
  const { cfgFile, cfg, tmp } = await setup(t);
  writeYaml(cfgFile, { ...cfg, model: { path: path.join(tmp.dir, 'missing.onnx') } });
  const log: string[] = [];
  const parts = fakeParts(log, {
    loadDetector: async (model) => {
      throw new InspectdError(ErrorCodes.MODEL_NOT_FOUND, `cannot read model ${model.path}`);
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts });
  const ac = new AbortController();
  const start = daemon.start(ac.signal);
  for (let i = 0; i < 100 && !log.some((l) => l.startsWith('model error')); i++) await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  ac.abort();
  await assert.rejects(start, { code: 'INSPECTD_ERR_LIFECYCLE', message: /aborted/ });
  assert.ok(performance.now() - t0 < 1500, 'the wait ends within a second of the signal');
  await daemon.stop();
  assert.deepEqual(
    log.filter((l) => l.startsWith('stop')),
    ['stop mqtt', 'stop outbox'],
  );
});

/** A real snapshot writer that logs when it is stopped and how many writes it still had in flight. */
class LoggedSnapshots extends SnapshotWriter {
  private pending = 0;
  constructor(
    private readonly log: string[],
    private readonly n: number,
    opts: ConstructorParameters<typeof SnapshotWriter>[0],
  ) {
    super(opts);
  }
  override saveReject(...args: Parameters<SnapshotWriter['saveReject']>): Promise<string | null> {
    this.pending++;
    return super.saveReject(...args).finally(() => this.pending--);
  }
  override async stop(): Promise<void> {
    await super.stop();
    this.log.push(`snapshots ${this.n} stopped, ${this.pending} in flight`);
  }
}

test('snapshot writes are drained on stop and when a reload replaces the writer', { timeout: 15_000 }, async (t) => {
  const { cfgFile, cfg, tmp } = await setup(t);
  const dir = path.join(tmp.dir, 'snaps');
  writeYaml(cfgFile, { ...cfg, snapshots: { enabled: true, dir, maxFiles: 1000 } });
  const log: string[] = [];
  let made = 0;
  const parts = fakeParts(log, { createSnapshots: async (config, logger) => new LoggedSnapshots(log, ++made, { config, logger }) });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const waitFor = async (pred: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(pred(), what);
  };
  const jpegs = () => (existsSync(dir) ? readdirSync(dir) : []).filter((n) => n.endsWith('.jpg'));
  await waitFor(() => made === 1 && jpegs().length >= 2, 'rejects leave snapshots');

  writeYaml(cfgFile, { ...cfg, snapshots: { enabled: true, dir, maxFiles: 999 } });
  await waitFor(() => made === 2, 'the edit makes a new writer');
  await waitFor(() => log.includes('snapshots 1 stopped, 0 in flight'), 'the replaced writer is drained');

  await daemon.stop();
  assert.ok(log.includes('snapshots 2 stopped, 0 in flight'), 'stop drains the writer in service');
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no half-written file is left',
  );
  for (const name of jpegs()) assert.equal((await sharp(path.join(dir, name)).metadata()).format, 'jpeg', `${name} is a whole JPEG`);
});

test('rules naming a class the model lacks: refused at start (CONFIG_INVALID) and on a live edit (the running config stays)', { timeout: 15_000 }, async (t) => {
  const { cfgFile, cfg } = await setup(t);
  const log: string[] = [];
  const typo = { ...cfg, cameras: [{ ...cfg.cameras[0], rules: { rejectClasses: ['scrach'] } }] };
  writeYaml(cfgFile, typo);
  const bad = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts: fakeParts(log) });
  await assert.rejects(bad.start(), { code: 'INSPECTD_ERR_CONFIG_INVALID', message: /rejectClasses\[0\]: unknown class 'scrach'.*did you mean 'scratch'/ });
  await bad.stop();

  writeYaml(cfgFile, cfg);
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts: fakeParts(log) });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const hash = daemon.statusInfo().configHash;
  writeYaml(cfgFile, typo);
  await daemon.reload();
  const err = daemon.statusInfo().lastConfigError as { message: string } | null;
  assert.match(err?.message ?? '', /unknown class 'scrach'/, 'reported as the last config error');
  assert.equal(daemon.statusInfo().configHash, hash, 'the running config stays');
  assert.deepEqual(daemon.config.cameras[0].rules.rejectClasses, ['scratch']);
});

test('while no usable model loads, /healthz answers 503 with the reason and /metrics answers', { timeout: 15_000 }, async (t) => {
  const { cfgFile, cfg, tmp } = await setup(t);
  const port = await freePort();
  writeYaml(cfgFile, { ...cfg, model: { path: path.join(tmp.dir, 'broken.onnx') }, http: { enabled: true, host: '127.0.0.1', port } });
  const log: string[] = [];
  const parts = fakeParts(log, {
    createHttp: defaultParts.createHttp,
    loadDetector: async (model) => {
      throw new InspectdError(ErrorCodes.MODEL_INVALID, `${model.path} is not an ONNX model`);
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts });
  const ac = new AbortController();
  const start = daemon.start(ac.signal);
  t.after(async () => {
    ac.abort();
    await start.catch(() => undefined);
    await daemon.stop().catch(() => undefined);
  });
  for (let i = 0; i < 100 && !log.some((l) => l.startsWith('model error')); i++) await new Promise((r) => setTimeout(r, 20));
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(res.status, 503);
  const body = (await res.json()) as { ok: boolean; ready: boolean; reason?: string };
  assert.equal(body.ok, false);
  assert.equal(body.ready, false);
  assert.match(body.reason ?? '', /no usable model: .*broken\.onnx is not an ONNX model/);
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /inspectd_frames_captured_total/);
});

test('health is not ok while MQTT is disconnected; a refused connection is named on /healthz, the status topic and STATUS=', { timeout: 10_000 }, async (t) => {
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  const statuses: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const notifier = { enabled: true, ready: () => {}, watchdog: () => {}, status: (s: string) => void lines.push(s), reloading: () => {}, stopping: () => {} };
  const link = { connected: true, connectionError: null as string | null };
  const base = fakeParts(log);
  const parts = fakeParts(log, {
    createSink: async (o) => {
      const s = await base.createSink!(o);
      const sink: EventSink = {
        ...s,
        get connected() {
          return link.connected;
        },
        get connectionError() {
          return link.connectionError;
        },
        publishStatus: (info) => void statuses.push({ ...info }),
      };
      return sink;
    },
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts, notifier, statusIntervalMs: 50 });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  assert.equal(daemon.health().ok, true);

  link.connected = false;
  assert.equal(daemon.health().ok, false, 'disconnected from the broker: not healthy, whatever the cameras say');
  assert.equal(daemon.health().mqttConnected, false);

  link.connectionError = 'mqtt: refused (bad credentials)';
  assert.equal(daemon.health().mqttError, 'mqtt: refused (bad credentials)');
  assert.equal(daemon.statusInfo().mqttError, 'mqtt: refused (bad credentials)');
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('mqtt: refused (bad credentials)')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    lines.some((l) => l.includes('mqtt: refused (bad credentials)')),
    `STATUS= says why: ${lines.at(-1)}`,
  );
  assert.ok(
    statuses.some((s) => s.mqttError === 'mqtt: refused (bad credentials)'),
    'the status JSON carries it (published once the link is back)',
  );

  link.connected = true;
  link.connectionError = null;
  assert.equal(daemon.health().ok, true);
  assert.equal(daemon.health().mqttError, undefined);
});

test('a degraded outbox (the disk refuses writes) makes /healthz not ok, says why on status and STATUS=, and recovers', { timeout: 10_000 }, async (t) => {
  const { QuotaFs } = await import('../helpers/quota-fs.js');
  const { cfgFile } = await setup(t);
  const log: string[] = [];
  const lines: string[] = [];
  const notifier = { enabled: true, ready: () => {}, watchdog: () => {}, status: (s: string) => void lines.push(s), reloading: () => {}, stopping: () => {} };
  const fs = new QuotaFs(Number.MAX_SAFE_INTEGER);
  let outbox: Outbox | undefined;
  const parts = fakeParts(log, {
    createOutbox: async (config, logger) => (outbox = new Outbox({ config, logger, fs, writeRetry: { baseMs: 20, maxMs: 50 } })),
  });
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: silentLogger(), parts, notifier, statusIntervalMs: 50 });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  assert.equal(daemon.health().ok, true);
  assert.deepEqual(daemon.health().outbox, { ok: true, depth: 0, unwritten: 0 });

  fs.quota = fs.used; // the disk is full
  await outbox!.append({ key: 'k1', kind: 'reject', topic: 'inspectd/life/c1/reject', qos: 1, retain: false, payload: { key: 'k1' }, captureWall: Date.now() });
  const h = daemon.health();
  assert.equal(h.ok, false);
  assert.equal(h.outbox?.ok, false);
  assert.equal(h.outbox?.unwritten, 1);
  assert.match(h.outbox?.error ?? '', /ENOSPC/);
  assert.match(String(daemon.statusInfo().outboxError), /ENOSPC/);
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('outbox degraded')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    lines.some((l) => l.includes('outbox degraded: 1 event(s) held in memory')),
    `STATUS=: ${lines.at(-1)}`,
  );

  fs.quota = Number.MAX_SAFE_INTEGER;
  for (let i = 0; i < 100 && !daemon.health().ok; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(daemon.health().ok, true, 'healthy again once the entry is on disk');
  assert.equal(daemon.statusInfo().outboxError, null);
});

test('reject keys never repeat: not across daemon restarts, not when a config edit re-creates the camera', { timeout: 20_000 }, async (t) => {
  const { cfgFile, cfg } = await setup(t);
  const keys: string[] = [];
  const log: string[] = [];
  const base = fakeParts(log);
  const recording: Partial<DaemonParts> = {
    ...base,
    createSink: async (o) => {
      const s = await base.createSink!(o);
      const sink: EventSink = { ...s, connected: true, publishReject: async (p) => void keys.push(p.key) };
      return sink;
    },
  };
  const until = async (ok: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(ok(), what);
  };
  const run = async (edit?: () => void) => {
    const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger(), parts: recording });
    t.after(() => daemon.stop().catch(() => undefined));
    await daemon.start();
    const n = keys.length;
    await until(() => keys.length >= n + 3, 'rejects flow');
    if (edit) {
      edit();
      const m = keys.length;
      await until(() => log.filter((l) => l === 'start camera c1').length >= 3 && keys.length >= m + 3, 'the re-created camera rejects again');
    }
    await daemon.stop();
  };
  await run();
  await run(() => writeYaml(cfgFile, { ...cfg, cameras: [{ ...cfg.cameras[0], source: { type: 'synthetic', seed: 9 } }] }));
  assert.equal(new Set(keys).size, keys.length, `duplicate keys: ${keys.filter((k, i) => keys.indexOf(k) !== i).join(', ')}`);
  assert.ok(
    keys.every((k) => /^life:c1:seq:\d+-\d+$/.test(k)),
    keys[0],
  );
  const boots = new Set(keys.map((k) => k.split(':')[3]!.split('-')[0]));
  assert.equal(boots.size, 2, 'one boot number per start');
});
