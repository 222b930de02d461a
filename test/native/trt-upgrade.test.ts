/**
 * Start-up TensorRT lifecycle through the stand-in (native/trt_standin): the daemon serves on onnxruntime,
 * `inspectd build-engine` runs as a real child process (a fake trtexec writes a stand-in engine; the child
 * loads the stand-in addon as its `inspectd_native`), the engine lands in the cache, is loaded by the real
 * TensorRT backend compiled against the stand-in, and the Detector swaps to it between frames.
 *
 * Not covered: the stand-in's outputs follow its input (channel sums here), so they are never a YOLO head;
 * the swap tests adapt the sums into a v8 head in asYoloHead() below. A real engine's head, and the real
 * trtexec/GPU build, are not exercised on these machines.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import { ErrorCodes } from '../../src/errors.js';
import type { Engine, OutputTensor, TensorSpec } from '../../src/contracts/engine.js';
import { createTensorRtEngine, engineCacheFileName, sha256File } from '../../src/inference/tensorrt.js';
import { loadNativeAddon, type NativeTrtEngine } from '../../src/native/loader.js';
import { packageRoot } from '../../src/util/package.js';
import type { Frame } from '../../src/contracts/frame.js';
import { Detector } from '../../src/inference/detector.js';
import { repoPath } from '../helpers/fixtures.js';
import { FN_CHANNEL_SUM, standinEngine } from './standin-engine.js';

const standin = loadNativeAddon('inspectd_trt_standin');
const MODEL = repoPath('test', 'assets', 'tiny-v8.onnx'); // 32x32 input, v8 head [1, 6, 21], 2 classes

/** What the fake trtexec "builds": channel sums of the model's 32x32 input. */
const BUILT = standinEngine(FN_CHANNEL_SUM, [
  { name: 'images', mode: 'input', dtype: 'float32', dims: [1, 3, 32, 32] },
  { name: 'sums', mode: 'output', dtype: 'float32', dims: [1, 3] },
]);

interface Logged {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function captureLogger(): { logger: Logger; lines: Logged[] } {
  const lines: Logged[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Logged) });
  return { logger, lines };
}

/**
 * A v8 head for tiny-v8 computed from the stand-in's channel sums: anchor 0 (box 12..20) scores class `cls`
 * with the input's mean red, anchor 1 (box 6..10) scores the other class with its mean blue.
 */
interface Adapted extends Engine {
  runsInFlight: number;
  disposed: boolean;
  inFlightAtDispose: number[];
}
function asYoloHead(inner: { run(i: Float32Array, d: number[]): Promise<OutputTensor[]>; dispose(): unknown }, inputs: readonly TensorSpec[], cls = 0): Adapted {
  const e: Adapted = {
    kind: 'tensorrt',
    inputs,
    outputs: [{ name: 'output0', shape: [1, 6, 21], type: 'float32' }],
    runsInFlight: 0,
    disposed: false,
    inFlightAtDispose: [],
    async run(input, dims) {
      e.runsInFlight++;
      try {
        const [sums] = await inner.run(input, dims);
        const px = dims[2] * dims[3];
        const head = new Float32Array(6 * 21);
        const put = (a: number, box: number[], c: number, score: number) => {
          box.forEach((v, k) => {
            head[k * 21 + a] = v;
          });
          head[(4 + c) * 21 + a] = score;
        };
        put(0, [16, 16, 8, 8], cls, sums.data[0] / px);
        put(1, [8, 8, 4, 4], 1 - cls, sums.data[2] / px);
        return [{ name: 'output0', dims: [1, 6, 21], data: head }];
      } finally {
        e.runsInFlight--;
      }
    },
    async dispose() {
      e.inFlightAtDispose.push(e.runsInFlight);
      await inner.dispose();
      e.disposed = true;
    },
  };
  return e;
}

/** A 32x32 RGB frame (no letterbox padding, so the tensor holds exactly these values / 255). */
function frame(r: number, g: number, b: number): Frame {
  const data = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < 32 * 32; i++) data.set([r, g, b], i * 3);
  return { cameraId: 'c', seq: 1, captureMono: 0, captureWall: 0, width: 32, height: 32, format: 'rgb24', data };
}

const r2 = (v: number) => Math.round(v * 100) / 100;
const brief = (ds: { classId: number; confidence: number; box: { x1: number; y1: number; x2: number; y2: number } }[]) =>
  ds.map((d) => [d.classId, r2(d.confidence), d.box.x1, d.box.y1, d.box.x2, d.box.y2]);
/** tiny-v8's own (constant) head: what onnxruntime answers for any frame. */
const ORT_ANSWER = [
  [0, 0.9, 12, 12, 20, 20],
  [1, 0.85, 12, 12, 20, 20],
  [1, 0.6, 25, 8, 32, 12],
];

interface Workspace {
  dir: string;
  cache: string;
  env: NodeJS.ProcessEnv;
  argsFile: string;
}

/**
 * A fake trtexec on PATH (its body `script` sees $OUT, the --saveEngine path) and a directory where the
 * stand-in addon is the build child's `inspectd_native`.
 */
function workspace(t: { after: (fn: () => void) => void }, script: string): Workspace {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-trt-upgrade-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  const native = path.join(dir, 'native');
  mkdirSync(bin);
  mkdirSync(native);
  symlinkSync(path.join(packageRoot(), 'build', 'Release', 'inspectd_trt_standin.node'), path.join(native, 'inspectd_native.node'));
  const engineFile = path.join(dir, 'built.engine');
  writeFileSync(engineFile, BUILT);
  const argsFile = path.join(dir, 'args');
  writeFileSync(
    path.join(bin, 'trtexec'),
    `#!/bin/sh\necho "$@" > "${argsFile}"\nfor a in "$@"; do case "$a" in --saveEngine=*) OUT="\${a#--saveEngine=}";; esac; done\n` +
      `ENGINE="${engineFile}"\necho "[I] parsing ONNX"\n${script}\n`,
  );
  chmodSync(path.join(bin, 'trtexec'), 0o755);
  return {
    dir,
    cache: path.join(dir, 'cache'),
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, INSPECTD_NATIVE_DIR: native },
    argsFile,
  };
}

function assertStandinClean(): void {
  assert.deepEqual(standin.standinStats?.(), { deviceBytes: 0, deviceAllocs: 0, hostAllocs: 0, liveObjects: 0 });
}

test('no cached engine: serves on onnxruntime, builds in the background, then swaps to TensorRT', { timeout: 60_000 }, async (t) => {
  const ws = workspace(t, 'cp "$ENGINE" "$OUT"\necho "[I] Engine built"');
  const { logger, lines } = captureLogger();
  const changes: [string, string][] = [];
  const d = await Detector.load({
    modelPath: MODEL,
    engine: 'auto',
    threads: 1,
    engineCacheDir: ws.cache,
    logger,
    tensorrt: {
      addon: standin,
      env: ws.env,
      loadEngine: async (o) => {
        const inner = await createTensorRtEngine(o);
        return asYoloHead(inner, inner.inputs);
      },
    },
    onEngineChange: (kind, reason) => changes.push([kind, reason]),
  });
  try {
    assert.equal(d.engineKind, 'ort-cpu', 'starts on onnxruntime');
    assert.match(d.refusals.find((r) => r.kind === 'tensorrt')?.reason ?? '', /no cached engine/);
    // Serving while the build runs.
    assert.deepEqual(brief((await d.detectFrame(frame(200, 0, 100))).detections), ORT_ANSWER);
    await d.engineUpgrade;
    assert.equal(d.engineKind, 'tensorrt');
    assert.equal(changes.length, 1);
    assert.equal(changes[0][0], 'tensorrt');
    assert.match(changes[0][1], /built in the background in \d+\.\d s/);
    // The frame now goes through the (stand-in) TensorRT engine: mean red 200/255 and mean blue 100/255.
    assert.deepEqual(brief((await d.detectFrame(frame(200, 0, 100))).detections), [
      [0, 0.78, 12, 12, 20, 20],
      [1, 0.39, 6, 6, 10, 10],
    ]);
    // Built once, at the cache key, with the default fp16 precision, by the child's trtexec.
    const sha = await sha256File(MODEL);
    const name = engineCacheFileName({ onnxSha256: sha, trtVersion: '10.0.0', computeCapability: '8.7', precision: 'fp16' });
    assert.deepEqual(readdirSync(ws.cache), [name]);
    assert.deepEqual(readFileSync(path.join(ws.cache, name)), BUILT);
    assert.match(readFileSync(ws.argsFile, 'utf8'), /--onnx=.*tiny-v8\.onnx --saveEngine=.*\.tmp-\d+ --fp16/);
    assert.ok(
      lines.some((l) => l.msg === 'TensorRT build progress' && l.build === '[I] Engine built'),
      'build output reaches the debug log',
    );
    assert.ok(lines.some((l) => l.msg === 'engine swapped to tensorrt' && l.from === 'ort-cpu'));
    assert.ok(!lines.some((l) => l.level >= 40), `no warnings: ${JSON.stringify(lines.filter((l) => l.level >= 40))}`);
  } finally {
    await d.dispose();
  }
  assertStandinClean();
});

test('a failed background build is logged with its reason and the detector stays on onnxruntime', { timeout: 60_000 }, async (t) => {
  const ws = workspace(t, 'echo "[E] Error[4]: IBuilder::buildSerializedNetwork: unsupported operator" >&2\nexit 3');
  const { logger, lines } = captureLogger();
  const changes: string[] = [];
  const d = await Detector.load({
    modelPath: MODEL,
    threads: 1,
    engineCacheDir: ws.cache,
    logger,
    tensorrt: { addon: standin, env: ws.env },
    onEngineChange: (kind) => changes.push(kind),
  });
  try {
    await d.engineUpgrade;
    assert.equal(d.engineKind, 'ort-cpu');
    assert.deepEqual(changes, []);
    const warn = lines.find((l) => l.msg === 'background TensorRT build failed; staying on ort-cpu');
    assert.ok(warn, JSON.stringify(lines));
    assert.match(String(warn.err), /build-engine exited with code 1: .*unsupported operator.*trtexec failed with exit code 3/);
    assert.deepEqual(brief((await d.detectFrame(frame(1, 2, 3))).detections), ORT_ANSWER);
    assert.deepEqual(existsSync(ws.cache) ? readdirSync(ws.cache) : [], [], 'no engine and no temporary file left');
  } finally {
    await d.dispose();
  }
});

test('a built engine that does not fit the model is refused, disposed, and onnxruntime keeps serving', { timeout: 60_000 }, async (t) => {
  // The stand-in's real outputs ([1, 3] channel sums) are no detect head: the Detector must not adopt them.
  const ws = workspace(t, 'cp "$ENGINE" "$OUT"');
  const { logger, lines } = captureLogger();
  const d = await Detector.load({ modelPath: MODEL, threads: 1, engineCacheDir: ws.cache, logger, tensorrt: { addon: standin, env: ws.env } });
  try {
    await d.engineUpgrade;
    assert.equal(d.engineKind, 'ort-cpu');
    const warn = lines.find((l) => l.msg === 'background TensorRT build failed; staying on ort-cpu');
    assert.match(String(warn?.err), /the tensorrt engine does not fit this model: unsupported model output shape \[1, 3\].*rebuild it/);
    assertStandinClean();
    assert.deepEqual(brief((await d.detectFrame(frame(1, 2, 3))).detections), ORT_ANSWER);
  } finally {
    await d.dispose();
  }
});

test('no background build where it cannot work: one log line says why', { timeout: 30_000 }, async (t) => {
  const ws = workspace(t, 'exit 0');
  for (const [tensorrt, why] of [
    [{ addon: standin, env: { ...ws.env, PATH: '/nonexistent' } }, /trtexec was not found/],
    [undefined, /without TensorRT|computeCapability|CUDA|trtexec/], // the production addon on this machine
  ] as const) {
    if (tensorrt === undefined && loadNativeAddon('inspectd_native').tensorrt.available) continue; // a TensorRT machine
    const { logger, lines } = captureLogger();
    const d = await Detector.load({ modelPath: MODEL, threads: 1, engineCacheDir: ws.cache, logger, tensorrt });
    try {
      await d.engineUpgrade;
      assert.equal(d.engineKind, 'ort-cpu');
      const info = lines.filter((l) => l.msg === 'no TensorRT engine build in the background; serving on ort-cpu');
      assert.equal(info.length, 1, JSON.stringify(lines));
      assert.match(String(info[0].reason), why);
      assert.ok(!existsSync(ws.argsFile), 'trtexec never ran');
    } finally {
      await d.dispose();
    }
  }
  // Opting out, or asking for a CPU engine, starts nothing either.
  for (const opts of [{ tensorrtBuild: false }, { engine: 'cpu' as const }]) {
    const { logger, lines } = captureLogger();
    const d = await Detector.load({ modelPath: MODEL, threads: 1, engineCacheDir: ws.cache, logger, tensorrt: { addon: standin, env: ws.env }, ...opts });
    await d.engineUpgrade;
    assert.ok(!lines.some((l) => /TensorRT/.test(l.msg) && l.msg !== 'engine tensorrt refused'), JSON.stringify(lines.map((l) => l.msg)));
    await d.dispose();
  }
  assert.ok(!existsSync(ws.argsFile), 'trtexec never ran');
});

test('dispose during a background build stops the build processes and removes the partial engine', { timeout: 60_000 }, async (t) => {
  const ws = workspace(t, `echo $$ > "${'$'}{OUT}.pid"\necho partial > "$OUT"\nsleep 30\ncp "$ENGINE" "$OUT"`);
  const { logger, lines } = captureLogger();
  const changes: string[] = [];
  const d = await Detector.load({
    modelPath: MODEL,
    threads: 1,
    engineCacheDir: ws.cache,
    logger,
    tensorrt: { addon: standin, env: ws.env },
    onEngineChange: (k) => changes.push(k),
  });
  // Wait (bounded) until trtexec is running and has written its partial output.
  const deadline = Date.now() + 20_000;
  let pidFile: string | undefined;
  while (!pidFile && Date.now() < deadline) {
    pidFile = existsSync(ws.cache) ? readdirSync(ws.cache).find((n) => n.endsWith('.pid')) : undefined;
    if (!pidFile) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(pidFile, 'trtexec started');
  const pid = Number(readFileSync(path.join(ws.cache, pidFile), 'utf8'));
  const t0 = Date.now();
  await d.dispose();
  assert.ok(Date.now() - t0 < 10_000, 'dispose does not wait for the build to finish');
  const alive = () => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    // A zombie (no reaper in some containers) is dead too.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  };
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(), false, 'trtexec was stopped with its build-engine parent');
  assert.deepEqual(
    readdirSync(ws.cache).filter((n) => !n.endsWith('.pid')),
    [],
    'the partial engine was removed',
  );
  assert.deepEqual(changes, []);
  assert.ok(lines.some((l) => l.msg === 'background TensorRT build stopped: the model was unloaded'));
});

test('swaps are atomic between frames: a frame in flight finishes on its engine, which is disposed after it', { timeout: 30_000 }, async (t) => {
  const trt = standin.tensorrt;
  assert.ok(trt.available);
  const load = async (): Promise<NativeTrtEngine> => {
    const e = new trt.Engine();
    await e.load(BUILT);
    return e;
  };
  const inputs: TensorSpec[] = [{ name: 'images', shape: [1, 3, 32, 32], type: 'float32' }];
  const changes: [string, string][] = [];
  const d = await Detector.load({ modelPath: MODEL, engine: 'cpu', threads: 1, onEngineChange: (k, r) => changes.push([k, r]) });
  const a = asYoloHead(await load(), inputs, 0);
  const b = asYoloHead(await load(), inputs, 1);
  try {
    await d.adoptEngine(a, 'test: A');
    assert.deepEqual(changes, [['tensorrt', 'test: A']]);
    assert.deepEqual(brief((await d.detectFrame(frame(255, 0, 102))).detections), [
      [0, 1, 12, 12, 20, 20],
      [1, 0.4, 6, 6, 10, 10],
    ]);

    // Keep A's next run in flight (the stand-in's cudaStreamSynchronize sleeps) while B is adopted.
    const saved = process.env.INSPECTD_STANDIN_ENQUEUE_DELAY_MS;
    process.env.INSPECTD_STANDIN_ENQUEUE_DELAY_MS = '300';
    t.after(() => {
      if (saved === undefined) delete process.env.INSPECTD_STANDIN_ENQUEUE_DELAY_MS;
      else process.env.INSPECTD_STANDIN_ENQUEUE_DELAY_MS = saved;
    });
    const first = d.detectFrame(frame(255, 0, 102));
    for (let i = 0; i < 200 && a.runsInFlight === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(a.runsInFlight, 1, 'A is running the first frame');
    await d.adoptEngine(b, 'test: B');
    assert.equal(d.engineKind, 'tensorrt');
    assert.equal(a.disposed, false, 'A is not disposed under its running frame');
    const second = d.detectFrame(frame(255, 0, 102));
    // The first frame's answer is A's (class 0 from red), the second's is B's (class 1 from red).
    assert.deepEqual(brief((await first).detections), [
      [0, 1, 12, 12, 20, 20],
      [1, 0.4, 6, 6, 10, 10],
    ]);
    for (let i = 0; i < 100 && !a.disposed; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(a.disposed, true, 'A is disposed once its last run is done');
    assert.deepEqual(a.inFlightAtDispose, [0]);
    assert.deepEqual(brief((await second).detections), [
      [1, 1, 12, 12, 20, 20],
      [0, 0.4, 6, 6, 10, 10],
    ]);
    assert.deepEqual(
      changes.map((c) => c[1]),
      ['test: A', 'test: B'],
    );

    // The detector refuses to dispose under a running frame, like an engine.
    const third = d.detectFrame(frame(0, 0, 0));
    for (let i = 0; i < 200 && b.runsInFlight === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(d.dispose(), { code: ErrorCodes.ENGINE_BUSY });
    await third;

    // An engine for another input size is refused and disposed; B keeps serving.
    const wrong = asYoloHead(await load(), [{ name: 'images', shape: [1, 3, 64, 64], type: 'float32' }], 0);
    await assert.rejects(d.adoptEngine(wrong, 'test: wrong'), {
      code: ErrorCodes.ENGINE_UNAVAILABLE,
      message: /does not fit this model: input \[1, 3, 64, 64\], model input \[1, 3, 32, 32\]/,
    });
    assert.equal(wrong.disposed, true);
    assert.equal(changes.length, 2);
  } finally {
    await d.dispose();
  }
  assert.equal(b.disposed, true);
  await assert.rejects(d.adoptEngine(asYoloHead(await load(), inputs), 'late'), { code: ErrorCodes.ENGINE_DISPOSED });
  assertStandinClean();
});
