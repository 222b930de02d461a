import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { SnapshotWriter, snapshotName } from '../../src/sink/snapshots.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/log.js';
import type { Detection } from '../../src/contracts/vision.js';

function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-snap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const W = 200;
const H = 150;
const det: Detection = { classId: 0, class: 'scratch', confidence: 0.9, box: { x1: 50, y1: 60, x2: 150, y2: 130 } };

function grayFrame(format: 'rgb24' | 'bgr24' | 'gray8') {
  const ch = format === 'gray8' ? 1 : 3;
  return { data: Buffer.alloc(W * H * ch, 128), width: W, height: H, format };
}

async function pixel(file: string, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

for (const format of ['rgb24', 'bgr24', 'gray8'] as const) {
  test(`snapshot (${format}): a JPEG with the box drawn in red at its edge, inside untouched`, { timeout: 10_000 }, async (t) => {
    const dir = tmpDir(t);
    const w = new SnapshotWriter({ config: { enabled: true, dir, maxFiles: 10, maxBytes: 1e9 }, logger: silentLogger() });
    t.after(() => w.stop());
    const file = await w.saveReject(grayFrame(format), [det], { cameraId: 'cam1', seq: 7, key: 'dev:cam1:7' });
    assert.ok(file);
    assert.match(path.basename(file), /^\d{8}T\d{9}Z_cam1_000000000007\.jpg$/);
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, W);
    assert.equal(meta.height, H);
    const [r, g, b] = await pixel(file, 50, 100); // left edge, mid-height
    assert.ok(r > 180 && g < 90 && b < 90, `edge pixel should be red, got ${r},${g},${b}`);
    const [r2, g2, b2] = await pixel(file, 100, 100); // inside the box
    assert.ok(Math.abs(r2 - 128) < 20 && Math.abs(g2 - 128) < 20 && Math.abs(b2 - 128) < 20, `inside should stay gray, got ${r2},${g2},${b2}`);
  });
}

test('snapshot: keeps at most maxFiles (oldest removed), drops when busy and counts it, disabled writes nothing', { timeout: 15_000 }, async (t) => {
  const dir = tmpDir(t);
  const metrics = new Metrics();
  const w = new SnapshotWriter({ config: { enabled: true, dir, maxFiles: 2, maxBytes: 1e9 }, logger: silentLogger(), metrics, maxConcurrent: 1 });
  t.after(() => w.stop());
  const frame = grayFrame('rgb24');
  for (let seq = 1; seq <= 4; seq++) assert.ok(await w.saveReject(frame, [det], { cameraId: 'cam1', seq, key: `k${seq}` }));
  const names = readdirSync(dir).sort();
  assert.equal(names.length, 2);
  assert.match(names[0]!, /_000000000003\.jpg$/);
  assert.match(names[1]!, /_000000000004\.jpg$/);

  const a = w.saveReject(frame, [det], { cameraId: 'cam1', seq: 5, key: 'k5' });
  const b = w.saveReject(frame, [det], { cameraId: 'cam1', seq: 6, key: 'k6' });
  assert.equal(await b, null);
  assert.ok(await a);
  assert.equal(w.dropped, 1);
  assert.match(await metrics.text(), /inspectd_snapshots_dropped_total\{reason="busy"\} 1/);

  const off = new SnapshotWriter({ config: { enabled: false, dir: path.join(dir, 'off'), maxFiles: 2, maxBytes: 1e9 }, logger: silentLogger() });
  assert.equal(await off.saveReject(frame, [det], { cameraId: 'cam1', seq: 1, key: 'k' }), null);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n === 'off'),
    [],
  );
});

test('snapshot names sort by time and never contain path characters', () => {
  const a = snapshotName({ cameraId: 'line/1', seq: 3, key: 'k' }, Date.UTC(2026, 0, 2, 3, 4, 5, 6));
  assert.equal(a, '20260102T030405006Z_line_1_000000000003.jpg');
});

test('snapshot: bgr24 channels are swapped to RGB', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const w = new SnapshotWriter({ config: { enabled: true, dir, maxFiles: 10, maxBytes: 1e9 }, logger: silentLogger() });
  t.after(() => w.stop());
  const data = Buffer.alloc(W * H * 3);
  for (let i = 0; i < data.length; i += 3) data[i] = 220; // B=220, G=0, R=0 in BGR order
  const file = await w.saveReject({ data, width: W, height: H, format: 'bgr24' }, [], { cameraId: 'cam1', seq: 1, key: 'k' });
  const [r, g, b] = await pixel(file!, 10, 10);
  assert.ok(b > 180 && r < 50 && g < 50, `expected blue, got ${r},${g},${b}`);
});

test('snapshot stop() drains: every write started before it is a complete JPEG on disk when it resolves, none after', { timeout: 15_000 }, async (t) => {
  const dir = tmpDir(t);
  const w = new SnapshotWriter({ config: { enabled: true, dir, maxFiles: 10, maxBytes: 1e9 }, logger: silentLogger(), maxConcurrent: 4 });
  const frame = { data: Buffer.alloc(640 * 480 * 3, 90), width: 640, height: 480, format: 'rgb24' as const };
  const jobs = [1, 2, 3, 4].map((seq) => w.saveReject(frame, [det], { cameraId: 'cam1', seq, key: `k${seq}` }));
  const settled: Array<string | null> = [];
  for (const j of jobs) void j.then((f) => settled.push(f));
  await w.stop();
  // Checked before anything else runs: stop() alone must have waited for the writes.
  const names = readdirSync(dir).sort();
  assert.equal(settled.length, 4, 'every write had finished when stop() resolved');
  assert.deepEqual(
    names.filter((n) => n.endsWith('.tmp')),
    [],
    'no half-written .jpg.tmp left',
  );
  assert.deepEqual(names.map((n) => Number(/_(\d{12})\.jpg$/.exec(n)?.[1])).sort(), [1, 2, 3, 4]);
  for (const file of settled) {
    assert.ok(file && names.includes(path.basename(file)));
    const bytes = readFileSync(file);
    assert.deepEqual([bytes[0], bytes[1], bytes.at(-2), bytes.at(-1)], [0xff, 0xd8, 0xff, 0xd9], `${path.basename(file)} is a whole JPEG (SOI ... EOI)`);
    assert.deepEqual([(await sharp(file).metadata()).width, (await sharp(file).metadata()).height], [640, 480]);
  }
  assert.equal(w.written, 4);
  assert.equal(await w.saveReject(frame, [det], { cameraId: 'cam1', seq: 5, key: 'k5' }), null, 'refused after stop');
  await w.stop();
  assert.equal(readdirSync(dir).length, 4, 'nothing written after stop');
});

test('snapshot start(): locks the directory (a second writer is refused with its pid) and deletes .jpg.tmp files a crash left', { timeout: 10_000 }, async (t) => {
  const { existsSync, writeFileSync } = await import('node:fs');
  const { LOCK_FILE } = await import('../../src/util/dir-lock.js');
  const dir = tmpDir(t);
  writeFileSync(path.join(dir, '20260101T000000000Z_cam1_000000000001.jpg.tmp'), ''); // a write cut off by a crash
  writeFileSync(path.join(dir, '20260101T000000000Z_cam1_000000000000.jpg'), 'older snapshot');
  const config = { enabled: true, dir, maxFiles: 10, maxBytes: 1e9 };
  const w = new SnapshotWriter({ config, logger: silentLogger() });
  await w.start();
  assert.deepEqual(readdirSync(dir).sort(), ['.inspectd.lock', '20260101T000000000Z_cam1_000000000000.jpg']);
  const other = new SnapshotWriter({ config, logger: silentLogger() });
  await assert.rejects(other.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSPECTD_ERR_LOCKED');
    assert.ok(err.message.includes(`snapshots directory ${dir} is in use`), err.message);
    assert.match(err.message, /snapshots\.dir/);
    return true;
  });
  await w.stop();
  assert.equal(existsSync(path.join(dir, LOCK_FILE)), false, 'stop releases the directory');
});

test('snapshot: the directory stays under maxBytes, oldest deleted first, counting the files there before start', { timeout: 15_000 }, async (t) => {
  const { statSync, writeFileSync } = await import('node:fs');
  const dir = tmpDir(t);
  const old = ['20200101T000000000Z_cam1_000000000001.jpg', '20200101T000000000Z_cam1_000000000002.jpg'];
  for (const name of old) writeFileSync(path.join(dir, name), Buffer.alloc(4000, 1));
  const probe = new SnapshotWriter({ config: { enabled: true, dir: path.join(dir, 'probe'), maxFiles: 10, maxBytes: 1e9 }, logger: silentLogger() });
  const one = statSync((await probe.saveReject(grayFrame('rgb24'), [det], { cameraId: 'cam1', seq: 1, key: 'k' }))!).size;
  await probe.stop();
  rmSync(path.join(dir, 'probe'), { recursive: true });

  const maxBytes = 2 * one + 4000; // room for two new snapshots and one old file
  const w = new SnapshotWriter({ config: { enabled: true, dir, maxFiles: 100, maxBytes }, logger: silentLogger() });
  await w.start();
  t.after(() => w.stop());
  for (let seq = 1; seq <= 2; seq++) assert.ok(await w.saveReject(grayFrame('rgb24'), [det], { cameraId: 'cam1', seq, key: `k${seq}` }));
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.jpg'))
    .sort();
  assert.equal(names.length, 3, names.join(' '));
  assert.equal(names[0], old[1], 'the oldest file went first');
  const total = names.reduce((n, name) => n + statSync(path.join(dir, name)).size, 0);
  assert.ok(total <= maxBytes, `${total} <= ${maxBytes}`);
});

test('snapshots yield to the outbox: short of the reserved space, old snapshots are deleted and a new one is skipped (reason disk)', { timeout: 15_000 }, async (t) => {
  const dir = tmpDir(t);
  const metrics = new Metrics();
  let reserved = 0;
  const w = new SnapshotWriter({
    config: { enabled: true, dir, maxFiles: 100, maxBytes: 1e9 },
    logger: silentLogger(),
    metrics,
    reserve: { dir, bytes: () => reserved }, // the outbox's folder, here the same filesystem
  });
  await w.start();
  t.after(() => w.stop());
  for (let seq = 1; seq <= 3; seq++) assert.ok(await w.saveReject(grayFrame('rgb24'), [det], { cameraId: 'cam1', seq, key: `k${seq}` }));
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.jpg')).length, 3);

  reserved = Number.POSITIVE_INFINITY; // the outbox cannot write: every byte goes to it
  assert.equal(await w.saveReject(grayFrame('rgb24'), [det], { cameraId: 'cam1', seq: 4, key: 'k4' }), null);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.jpg') || n.endsWith('.tmp')),
    [],
    'the snapshots gave their space back, nothing half-written',
  );
  assert.match(await metrics.text(), /inspectd_snapshots_dropped_total\{reason="disk"\} 1/);

  reserved = 0;
  assert.ok(await w.saveReject(grayFrame('rgb24'), [det], { cameraId: 'cam1', seq: 5, key: 'k5' }), 'written again once there is room');
});

test('a verdict names its evidence snapshot before it exists: plannedFile, then saveReject writes exactly there', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t);
  const w = new SnapshotWriter({ config: { enabled: true, dir, maxFiles: 10, maxBytes: 1e9 }, logger: silentLogger() });
  const meta = { cameraId: 'cam1', seq: 12, key: 'dev:cam1:part:3-4' };
  const planned = w.plannedFile(meta);
  assert.ok(planned && path.dirname(planned) === dir);
  assert.match(path.basename(planned), /^\d{8}T\d{9}Z_cam1_000000000012\.jpg$/);
  assert.equal(await w.saveReject(grayFrame('rgb24'), [det], meta, planned), planned);
  assert.deepEqual(readdirSync(dir), [path.basename(planned)]);
  await w.stop();
  assert.equal(w.plannedFile(meta), undefined, 'stopped: nothing will be written');
  const off = new SnapshotWriter({ config: { enabled: false, dir, maxFiles: 10, maxBytes: 1e9 }, logger: silentLogger() });
  assert.equal(off.plannedFile(meta), undefined, 'disabled: no name');
});
