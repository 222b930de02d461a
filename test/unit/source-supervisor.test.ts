import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CameraConfig } from '../../src/config/types.js';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../src/ops/log.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { FrameSource, SourceHandlers } from '../../src/source/source.js';
import { SourceSupervisor, sampleHash } from '../../src/source/supervisor.js';
import type { SourceState } from '../../src/contracts/camera.js';
import { partsConfig } from '../../src/config/defaults.js';

/** A source the test drives by hand. */
class FakeSource implements FrameSource {
  readonly kind = 'fake';
  finite = false;
  handlers: SourceHandlers | undefined;
  stopped = false;
  private seq = 0;
  constructor(readonly cameraId: string) {}
  async start(h: SourceHandlers): Promise<void> {
    this.handlers = h;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  emit(fill = this.seq): void {
    const data = Buffer.alloc(4 * 4 * 3, fill & 255);
    const f: Frame = { cameraId: 'x', seq: this.seq++, captureMono: 0, captureWall: 0, width: 4, height: 4, format: 'rgb24', data };
    this.handlers!.frame(f);
  }
}

function camera(over: Partial<CameraConfig> = {}): CameraConfig {
  return {
    id: 'cam1',
    source: { type: 'synthetic', fps: 5, width: 4, height: 4, seed: 1, defectRate: 0, scene: 'still', beltPxPerFrame: 64, lossless: false },
    deadlineMs: 500,
    stallTimeoutMs: 5000,
    frozenFrames: 0,
    rules: { rejectClasses: [], classConf: {}, minBoxArea: 0, zones: [] },
    trigger: false,
    decision: 'frame',
    parts: partsConfig(),
    ...over,
  };
}

function harness(cam: CameraConfig, opts: { finite?: boolean; logger?: Logger } = {}) {
  const sources: FakeSource[] = [];
  const frames: Frame[] = [];
  const states: SourceState[] = [];
  const restarts: string[] = [];
  let onNewSource: (() => void) | undefined;
  const sup = new SourceSupervisor({
    camera: cam,
    createSource: () => {
      const s = new FakeSource(cam.id);
      s.finite = opts.finite ?? false;
      sources.push(s);
      queueMicrotask(() => onNewSource?.());
      return s;
    },
    logger: opts.logger ?? silentLogger(),
    onFrame: (f) => frames.push(f),
    onState: (s) => states.push(s),
    onRestart: (r) => restarts.push(r),
    backoff: { baseMs: 5, maxMs: 20, jitter: 0 },
  });
  const nextSource = (count: number, timeoutMs = 3000): Promise<FakeSource> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const check = (): void => {
        if (sources.length >= count && sources[count - 1].handlers) resolve(sources[count - 1]);
        else if (Date.now() - t0 > timeoutMs) reject(new Error(`source #${count} not started within ${timeoutMs} ms`));
        else setTimeout(check, 2);
      };
      check();
    });
  return { sup, sources, frames, states, restarts, nextSource, setOnNewSource: (f: () => void) => (onNewSource = f) };
}

test('seq is renumbered per camera and stays monotonic across restarts; clean end restarts without a fault', { timeout: 5000 }, async (t) => {
  const h = harness(camera());
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.emit();
  s1.emit();
  s1.handlers!.ended(null); // a non-looping file ended
  const s2 = await h.nextSource(2);
  assert.ok(s1.stopped);
  s2.emit();
  s1.emit(); // a straggler from the old source is ignored
  assert.deepEqual(
    h.frames.map((f) => f.seq),
    [0, 1, 2],
  );
  assert.ok(h.frames.every((f) => f.cameraId === 'cam1'));
  assert.deepEqual(h.states, [{ state: 'ok' }]);
  assert.deepEqual(h.restarts, ['source ended']);
});

test('a failed source is a fault, restarted; the first good frame is ok again', { timeout: 5000 }, async (t) => {
  const h = harness(camera());
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.emit();
  s1.handlers!.ended(new Error('ffmpeg exited with code 1: Connection refused'));
  const s2 = await h.nextSource(2);
  assert.deepEqual(h.states, [{ state: 'ok' }, { state: 'fault', reason: 'ffmpeg exited with code 1: Connection refused' }]);
  s2.emit();
  assert.deepEqual(h.states.at(-1), { state: 'ok' });
  assert.equal(h.sup.stats.restarts, 1);
  assert.equal(h.sup.stats.faults, 1);
});

test('backoff doubles up to the cap while the source keeps failing to start', { timeout: 5000 }, async (t) => {
  const cam = camera();
  const delays: number[] = [];
  let last = Date.now();
  let n = 0;
  const sup = new SourceSupervisor({
    camera: cam,
    createSource: () => {
      const now = Date.now();
      delays.push(now - last);
      last = now;
      n++;
      return { cameraId: cam.id, kind: 'broken', start: () => Promise.reject(new Error('no such device')), stop: async () => undefined };
    },
    logger: silentLogger(),
    onFrame: () => undefined,
    onState: () => undefined,
    backoff: { baseMs: 10, maxMs: 40, jitter: 0 },
  });
  t.after(() => sup.stop());
  await sup.start();
  while (n < 6) await new Promise((r) => setTimeout(r, 5));
  await sup.stop();
  // attempts 2..6 waited about 10, 20, 40, 40, 40 ms (timers never fire early)
  const waits = delays.slice(1, 6);
  assert.ok(waits[0] >= 9 && waits[1] >= 19 && waits[2] >= 39 && waits[3] >= 39 && waits[4] >= 39, `waits ${waits.join(',')}`);
  assert.ok(waits[4] < 400, `capped: ${waits[4]}`);
  assert.equal(sup.stats.faults, n);
});

test('stall: no frame for stallTimeoutMs -> fault "camera stalled" and restart', { timeout: 5000 }, async (t) => {
  const h = harness(camera({ stallTimeoutMs: 100 }));
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.emit();
  const s2 = await h.nextSource(2); // the stalled source was replaced
  assert.ok(s1.stopped);
  const fault = h.states.find((s) => s.state === 'fault');
  assert.match(fault?.reason ?? '', /^camera stalled: no frame for \d+ ms$/);
  s2.emit();
  assert.deepEqual(h.states.at(-1), { state: 'ok' });
});

test('frozen: N identical consecutive frames -> fault "frozen frames"; a changing image is fine', { timeout: 5000 }, async (t) => {
  const h = harness(camera({ frozenFrames: 3 }));
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  for (let i = 0; i < 10; i++) s1.emit(i); // changing
  s1.emit(7);
  s1.emit(7);
  assert.equal(h.states.filter((s) => s.state === 'fault').length, 0);
  s1.emit(7); // third identical in a row
  assert.match(h.states.at(-1)?.reason ?? '', /^frozen frames: 3 identical consecutive frames$/);
  assert.equal(h.frames.length, 12, 'the frozen frame is not passed on');
  const s2 = await h.nextSource(2);
  s2.emit(1);
  assert.deepEqual(h.states.at(-1), { state: 'ok' });
});

test('stop() during a backoff wait returns promptly and stops everything', { timeout: 5000 }, async () => {
  const cam = camera();
  let created = 0;
  const sup = new SourceSupervisor({
    camera: cam,
    createSource: () => {
      created++;
      return { cameraId: cam.id, kind: 'broken', start: () => Promise.reject(new Error('x')), stop: async () => undefined };
    },
    logger: silentLogger(),
    onFrame: () => undefined,
    onState: () => undefined,
    backoff: { baseMs: 60_000, jitter: 0 },
  });
  await sup.start();
  const t0 = Date.now();
  await sup.stop();
  await sup.stop(); // idempotent
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(created, 1);
});

test('sampleHash differs for different images and matches for equal ones', { timeout: 5000 }, () => {
  const a = Buffer.alloc(640 * 480 * 3, 1);
  const b = Buffer.from(a);
  assert.equal(sampleHash(a), sampleHash(b));
  const c = Buffer.alloc(640 * 480 * 3, 2);
  assert.notEqual(sampleHash(a), sampleHash(c));
});

test('backoff resets after a healthy stretch of frames', { timeout: 5000 }, async (t) => {
  let clock = 0;
  const cam = camera();
  const sources: FakeSource[] = [];
  const sup = new SourceSupervisor({
    camera: cam,
    createSource: () => {
      const s = new FakeSource(cam.id);
      sources.push(s);
      return s;
    },
    logger: silentLogger(),
    onFrame: () => undefined,
    onState: () => undefined,
    backoff: { baseMs: 1, maxMs: 1000, jitter: 0, healthyMs: 1000 },
    now: () => clock,
  });
  t.after(() => sup.stop());
  const waitFor = async (n: number): Promise<FakeSource> => {
    for (let i = 0; i < 500 && !(sources.length >= n && sources[n - 1].handlers); i++) await new Promise((r) => setTimeout(r, 2));
    assert.ok(sources[n - 1]?.handlers, `source #${n} started`);
    return sources[n - 1];
  };
  await sup.start();
  const s1 = await waitFor(1);
  s1.handlers!.ended(new Error('boom')); // attempt 1
  const s2 = await waitFor(2);
  s2.handlers!.ended(new Error('boom')); // attempt 2
  const s3 = await waitFor(3);
  assert.equal((sup as unknown as { attempt: number }).attempt, 2);
  s3.emit();
  clock += 1500; // frames for longer than healthyMs
  s3.emit();
  assert.equal((sup as unknown as { attempt: number }).attempt, 0, 'a healthy source resets the backoff');
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a finite source (a file played once) that ends cleanly: state ended, no restart, no stall fault after', { timeout: 5000 }, async (t) => {
  const h = harness(camera({ stallTimeoutMs: 100 }), { finite: true });
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.emit();
  s1.emit();
  s1.handlers!.ended(null); // end of file
  await sleep(300); // three stall timeouts and many backoff delays
  assert.equal(h.sources.length, 1, 'not restarted');
  assert.deepEqual(h.states, [{ state: 'ok' }, { state: 'ended', reason: 'end of input after 2 frames' }]);
  assert.deepEqual(h.restarts, []);
  assert.equal(h.sup.currentState, 'ended');
  assert.deepEqual([h.sup.stats.restarts, h.sup.stats.faults], [0, 0]);
  s1.emit(); // a straggler after the end does not count
  assert.equal(h.frames.length, 2);
  await h.sup.stop();
  assert.ok(s1.stopped);
});

test('a finite source that fails is still a fault and restarted', { timeout: 5000 }, async (t) => {
  const h = harness(camera(), { finite: true });
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.handlers!.ended(new Error('ffmpeg exited with code 1: moov atom not found'));
  await h.nextSource(2);
  assert.deepEqual(h.states, [{ state: 'fault', reason: 'ffmpeg exited with code 1: moov atom not found' }]);
});

test('a fault the running source reports holds the camera in fault without a restart until it clears', { timeout: 5000 }, async (t) => {
  const h = harness(camera());
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.emit();
  s1.handlers!.fault!('cannot move judged files into doneDir /in/done: EACCES');
  s1.handlers!.fault!('cannot move judged files into doneDir /in/done: EACCES'); // repeated: reported once
  s1.emit(); // frames still flow, but the fault stands
  await sleep(50);
  assert.deepEqual(h.states, [{ state: 'ok' }, { state: 'fault', reason: 'cannot move judged files into doneDir /in/done: EACCES' }]);
  assert.equal(h.sources.length, 1, 'not restarted');
  assert.equal(h.frames.length, 2);
  s1.handlers!.fault!(null);
  assert.deepEqual(h.states.at(-1), { state: 'ok' });
  assert.equal(h.sup.stats.faults, 1);
});

test('supervisor log lines carry the camera key once (the logger is bound to the camera)', { timeout: 5000 }, async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) }).child({ camera: 'cam1' });
  const h = harness(camera({ stallTimeoutMs: 100 }), { logger });
  t.after(() => h.sup.stop());
  await h.sup.start();
  const s1 = await h.nextSource(1);
  s1.emit();
  await h.nextSource(2); // stalled: fault, restarting
  h.sources[1].emit(); // recovered
  await h.sup.stop();
  assert.ok(lines.length >= 3, `logged: ${lines.join('')}`);
  for (const l of lines) assert.equal(l.match(/"camera":/g)?.length, 1, l);
});
