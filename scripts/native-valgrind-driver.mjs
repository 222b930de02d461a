// Exercises every native entry point a few times; run under valgrind by native-valgrind.sh.
// A plain script (not node:test) so valgrind sees only our work. Exits non-zero on a wrong result.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const dir = process.env.INSPECTD_NATIVE_DIR ?? path.join(root, 'build', 'Release');
const prod = require(path.join(dir, 'inspectd_native.node'));
const standin = require(path.join(dir, 'inspectd_trt_standin.node'));
const testAddon = require(path.join(dir, 'inspectd_test_native.node')); // the datagram receiver
const ITER = Number(process.env.INSPECTD_VALGRIND_ITER ?? 3);

function engineBlob(fn, tensors) {
  const parts = [Buffer.from('INSPTRT1', 'latin1')];
  const u32 = (v) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const i64s = (v) => {
    const b = Buffer.alloc(8 * v.length);
    v.forEach((x, i) => {
      b.writeBigInt64LE(BigInt(x), i * 8);
    });
    return b;
  };
  parts.push(u32(fn), u32(tensors.length));
  for (const t of tensors) {
    const name = Buffer.from(t.name);
    const head = Buffer.alloc(4);
    head.writeUInt8(t.input ? 1 : 2, 0);
    head.writeUInt8(t.half ? 1 : 0, 1);
    head.writeUInt16LE(name.length, 2);
    parts.push(head, name, u32(t.dims.length), i64s(t.dims));
    if (t.input) parts.push(i64s(t.max ?? t.dims));
  }
  return Buffer.concat(parts);
}

async function preprocess() {
  const w = 97,
    h = 61;
  const rgb = Buffer.alloc((w * 3 + 5) * h, 7);
  for (let i = 0; i < ITER; i++) {
    prod.preprocessSync(rgb, w, h, w * 3 + 5, 'rgb24', 64, 64, false);
    prod.preprocessSync(rgb, w, h, 0, 'gray8', 64, 48, true);
    const r = await prod.preprocess(rgb, w, h, w * 3 + 5, 'bgr24', 64, 64, false, new Float32Array(3 * 64 * 64));
    assert.equal(r.padY, 12);
    await standin.preprocess(rgb, w, h, 0, 'rgb24', 32, 32, true);
    assert.throws(() => prod.preprocessSync(Buffer.alloc(3), w, h, 0, 'rgb24', 64, 64, false), /needs/);
  }
}

function notify() {
  const sock = path.join(os.tmpdir(), `inspectd-vg-${process.pid}.sock`);
  for (const p of [sock, `@inspectd-vg-${process.pid}`]) {
    const fd = testAddon.dgramBind(p);
    for (let i = 0; i < ITER; i++) {
      assert.equal(prod.sdNotify(p, 'WATCHDOG=1'), 0);
      assert.equal(testAddon.dgramRecv(fd, 1000), 'WATCHDOG=1');
    }
    testAddon.dgramClose(fd);
  }
  assert.notEqual(prod.sdNotify(sock + '.missing', 'READY=1'), 0);
  import('node:fs').then((fs) => fs.rmSync(sock, { force: true }));
}

async function engine() {
  const fixed = engineBlob(0, [
    { name: 'images', input: true, dims: [1, 3, 8, 8] },
    { name: 'y16', half: true, dims: [1, 3, 8, 8] },
    { name: 'y32', dims: [1, 3, 8, 8] },
  ]);
  const dyn = engineBlob(1, [
    { name: 'x', input: true, half: true, dims: [1, 3, -1, -1], max: [1, 3, 32, 32] },
    { name: 's', dims: [1, 3] },
  ]);
  for (let i = 0; i < ITER; i++) {
    const e = new standin.tensorrt.Engine();
    await e.load(fixed);
    e.describe();
    const outs = await e.run(new Float32Array(192).fill(1), [1, 3, 8, 8]);
    assert.equal(outs[0].data[0], 3);
    await assert.rejects(e.run(new Float32Array(192), [1, 3, 8, 9]), { code: 'INSPECTD_ERR_ENGINE_SHAPE' });
    e.dispose();

    const d = new standin.tensorrt.Engine();
    await d.load(dyn);
    for (const s of [4, 16, 8]) await d.run(new Float32Array(3 * s * s).fill(1), [1, 3, s, s]);
    process.env.INSPECTD_STANDIN_DEVICE_BYTES = '100';
    await assert.rejects(d.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]), { code: 'INSPECTD_ERR_ENGINE_RUN' });
    delete process.env.INSPECTD_STANDIN_DEVICE_BYTES;
    process.env.INSPECTD_STANDIN_ENQUEUE_DELAY_MS = '20';
    const p = d.run(new Float32Array(48), [1, 3, 4, 4]);
    assert.throws(() => d.dispose(), { code: 'INSPECTD_ERR_ENGINE_BUSY' });
    await p;
    delete process.env.INSPECTD_STANDIN_ENQUEUE_DELAY_MS;
    // runFrame: the CUDA path (stand-in kernel), its frame buffer growing, then the CPU fallback.
    const frame = Buffer.alloc(61 * (97 * 3 + 5), 9);
    for (const s of [8, 32]) assert.equal((await d.runFrame(frame, 97, 61, 97 * 3 + 5, 'bgr24', [1, 3, s, s])).letterboxOn, 'cuda');
    await d.runFrame(Buffer.alloc(200 * 150, 3), 200, 150, 0, 'gray8', [1, 3, 16, 16]);
    process.env.INSPECTD_STANDIN_KERNEL_ERROR = '209';
    assert.equal((await d.runFrame(frame, 97, 61, 97 * 3 + 5, 'bgr24', [1, 3, 16, 16])).letterboxOn, 'cpu');
    delete process.env.INSPECTD_STANDIN_KERNEL_ERROR;
    assert.throws(() => d.runFrame(frame.subarray(0, 10), 97, 61, 0, 'bgr24', [1, 3, 8, 8]), /needs/);
    d.dispose();

    const bad = new standin.tensorrt.Engine();
    await assert.rejects(bad.load(fixed.subarray(0, 20)), { code: 'INSPECTD_ERR_ENGINE_UNAVAILABLE' });
    bad.dispose();
    // never disposed: the finalizer must free it
    const orphan = new standin.tensorrt.Engine();
    await orphan.load(fixed);
  }
  if (global.gc) global.gc();
}

await preprocess();
notify();
await engine();
// Finalizers of the orphaned engines run after GC; then nothing of the stand-in may be left.
for (let i = 0; i < 3 && global.gc; i++) {
  global.gc();
  await new Promise((r) => setTimeout(r, 20));
}
const stats = standin.standinStats();
if (global.gc) assert.deepEqual(stats, { deviceBytes: 0, deviceAllocs: 0, hostAllocs: 0, liveObjects: 0 });
console.log('native-valgrind-driver: ok', JSON.stringify(stats));
