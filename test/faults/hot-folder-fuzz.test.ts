/**
 * Hot-folder images fuzzed (fast-check, seeded, bounded): truncated, zero-byte, bit-flipped and random files,
 * images under the wrong extension, headers that claim huge dimensions, decompression bombs (a tiny PNG that
 * claims 50 000 x 50 000), 16-bit, CMYK and animated images. Each file is either judged (one rgb24 frame of
 * its size, moved to done/) or moved to quarantine/ with a reason file; none stays, none crashes the source,
 * and memory stays bounded by source.maxPixels.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { silentLogger } from '../../src/ops/log.js';
import { FolderSource } from '../../src/source/folder.js';
import type { FolderSourceConfig } from '../../src/config/types.js';
import type { Frame } from '../../src/contracts/frame.js';
import { sleep, tempDir } from '../helpers/daemon-harness.js';
import { bump, FAULTS_LONG, faultSeed, recordFaults } from '../helpers/fault-results.js';

const MAX_PIXELS = 4_000_000;
/** Seeds that once failed: replayed on every run (none yet; add one with the failure it found). */
const REGRESSION_SEEDS: number[] = [];

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid PNG header claiming width x height (8-bit RGB) over a small deflate stream of zeros: a decompression bomb. */
function claimingPng(width: number, height: number, idatBytes: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(idatBytes))), pngChunk('IEND', Buffer.alloc(0))]);
}

interface Base {
  name: string;
  ext: string;
  bytes: Buffer;
  /** The frame it must decode to. */
  width: number;
  height: number;
}

async function corpus(): Promise<Base[]> {
  const img = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r: 180, g: 40, b: 20 } } });
  const frames = await Promise.all(
    ['#f00', '#0f0', '#00f'].map((c) =>
      sharp({ create: { width: 24, height: 16, channels: 3, background: c } })
        .png()
        .toBuffer(),
    ),
  );
  const base = async (name: string, ext: string, bytes: Promise<Buffer>, width: number, height: number): Promise<Base> => ({ name, ext, bytes: await bytes, width, height });
  return Promise.all([
    base('png', '.png', img(40, 30).png().toBuffer(), 40, 30),
    base('jpeg', '.jpg', img(40, 30).jpeg().toBuffer(), 40, 30),
    base('webp', '.webp', img(40, 30).webp().toBuffer(), 40, 30),
    base('tiff', '.tiff', img(40, 30).tiff().toBuffer(), 40, 30),
    base('bmp-named', '.bmp', img(33, 7).png().toBuffer(), 33, 7),
    base('16-bit', '.png', img(40, 30).toColourspace('rgb16').png().toBuffer(), 40, 30),
    base('16-bit-grey', '.png', img(40, 30).greyscale().toColourspace('grey16').png().toBuffer(), 40, 30),
    base('cmyk', '.jpg', img(40, 30).toColourspace('cmyk').jpeg().toBuffer(), 40, 30),
    base(
      'animated-gif',
      '.gif',
      sharp(frames, { join: { animated: true } })
        .gif()
        .toBuffer(),
      24,
      16,
    ),
    base(
      'animated-webp',
      '.webp',
      sharp(frames, { join: { animated: true } })
        .webp()
        .toBuffer(),
      24,
      16,
    ),
    base('long-thin', '.png', img(8000, 1).png().toBuffer(), 8000, 1),
  ]);
}

type Case = { kind: string; ext: string; bytes: Buffer; expect: { width: number; height: number } | 'quarantine' | 'either'; reason?: RegExp };

function cases(bases: Base[]): fc.Arbitrary<Case> {
  const anyBase = fc.constantFrom(...bases);
  const otherExt = fc.constantFrom('.png', '.jpg', '.jpeg', '.webp', '.tif', '.gif', '.bmp');
  return fc.oneof(
    anyBase.map((b) => ({ kind: b.name, ext: b.ext, bytes: b.bytes, expect: { width: b.width, height: b.height } })),
    fc.tuple(anyBase, otherExt).map(([b, ext]) => ({ kind: 'wrong-extension', ext, bytes: b.bytes, expect: { width: b.width, height: b.height } })),
    fc
      .tuple(anyBase, fc.double({ min: 0, max: 0.95, noNaN: true }))
      .map(([b, f]) => ({ kind: 'truncated', ext: b.ext, bytes: b.bytes.subarray(0, Math.floor(b.bytes.length * f)), expect: 'either' as const })),
    fc.constant({ kind: 'zero-byte', ext: '.png', bytes: Buffer.alloc(0), expect: 'quarantine' as const, reason: /cannot decode image/ }),
    fc.tuple(anyBase, fc.array(fc.nat(), { minLength: 1, maxLength: 16 })).map(([b, bits]) => {
      const bytes = Buffer.from(b.bytes);
      for (const bit of bits) bytes[(bit >> 3) % bytes.length] ^= 1 << (bit & 7);
      return { kind: 'bit-flip', ext: b.ext, bytes, expect: 'either' as const };
    }),
    fc.tuple(fc.uint8Array({ maxLength: 2048 }), otherExt).map(([a, ext]) => ({ kind: 'random-bytes', ext, bytes: Buffer.from(a), expect: 'either' as const })),
    fc.tuple(fc.integer({ min: 2001, max: 2 ** 31 - 1 }), fc.integer({ min: 2001, max: 2 ** 31 - 1 })).map(([w, h]) => ({
      kind: 'huge-dimensions',
      ext: '.png',
      bytes: claimingPng(w, h, 64),
      expect: 'quarantine' as const,
      reason: /over source\.maxPixels|cannot decode image/,
    })),
    fc.constant({
      kind: 'decompression-bomb',
      ext: '.png',
      bytes: claimingPng(50_000, 50_000, 1_000_000),
      expect: 'quarantine' as const,
      reason: /50000 x 50000 px .*over source\.maxPixels.*not decoded/,
    }),
  );
}

test('fuzz: bad hot-folder images are judged or quarantined with a reason, never crash, memory bounded', { timeout: 240_000 }, async (t) => {
  const tmp = tempDir('inspectd-fuzz-folder-');
  t.after(() => tmp.cleanup());
  const dir = path.join(tmp.dir, 'in');
  const cfg: FolderSourceConfig = {
    type: 'folder',
    path: dir,
    doneDir: path.join(tmp.dir, 'done'),
    quarantineDir: path.join(tmp.dir, 'quarantine'),
    pollMs: 10,
    settleMs: 0,
    maxPixels: MAX_PIXELS,
    followSymlinks: false,
  };
  const frames = new Map<string, Frame>();
  let ended: Error | null | undefined;
  const src = new FolderSource('fuzz', cfg, { logger: silentLogger() });
  await src.start({
    frame: (f) => {
      frames.set(path.basename(f.origin ?? ''), f);
      f.done!();
    },
    ended: (err) => (ended = err),
  });
  t.after(() => src.stop());
  for (let i = 0; i < 200 && !existsSync(dir); i++) await sleep(10);

  const bases = await corpus();
  const inputs: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  const rss0 = process.memoryUsage().rss;
  let peakRss = rss0;
  let n = 0;
  const property = fc.asyncProperty(cases(bases), async (c) => {
    const name = `f${String(n++).padStart(4, '0')}${c.ext}`;
    bump(inputs, c.kind);
    writeFileSync(path.join(dir, name), c.bytes);
    const done = path.join(cfg.doneDir, name);
    const quarantined = path.join(cfg.quarantineDir, name);
    for (let i = 0; i < 1000 && !existsSync(done) && !existsSync(quarantined + '.reason.txt'); i++) await sleep(5);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    assert.equal(ended, undefined, 'the hot folder never ends');
    assert.ok(!existsSync(path.join(dir, name)), `${c.kind} ${name}: left in the hot folder`);
    if (existsSync(done)) {
      bump(outcomes, `${c.kind}:judged`);
      assert.notEqual(c.expect, 'quarantine', `${c.kind} ${name} was judged; expected quarantine`);
      const f = frames.get(name);
      assert.ok(f, `${name}: judged, so a frame was emitted`);
      assert.equal(f.format, 'rgb24');
      assert.equal(f.data.length, f.width * f.height * 3, `${name}: the frame holds width x height x 3 bytes`);
      if (typeof c.expect === 'object') assert.deepEqual([f.width, f.height], [c.expect.width, c.expect.height], `${c.kind} ${name}: its size`);
    } else {
      const reason = readFileSync(quarantined + '.reason.txt', 'utf8');
      bump(outcomes, `${c.kind}:quarantined`);
      assert.ok(typeof c.expect !== 'object', `${c.kind} ${name} is a good image, quarantined: ${reason}`);
      assert.ok(reason.trim().length > 30, `${name}: a reason is given: ${reason}`);
      if (c.reason) assert.match(reason, c.reason);
      assert.ok(!frames.has(name), `${name}: quarantined, so no frame`);
    }
  });
  const numRuns = FAULTS_LONG ? 2000 : 160;
  const seed = faultSeed(20261202);
  t.diagnostic(`seed ${seed} (INSPECTD_FAULTS_SEED replays it), ${numRuns} runs`);
  for (const s of REGRESSION_SEEDS) await fc.assert(property, { seed: s, numRuns, includeErrorInReport: true });
  await fc.assert(property, { seed, numRuns, includeErrorInReport: true });
  t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
  const peakMb = Math.round((peakRss - rss0) / 1e6);
  t.diagnostic(`rss growth at peak: ${peakMb} MB`);
  // maxPixels 4 MP is 12 MB of rgb24 (and libvips' working copies): far below this; a decoded bomb (7.5 GB) far above.
  assert.ok(peakMb < 800, `memory stays bounded: rss grew ${peakMb} MB`);
  for (const kind of ['decompression-bomb', 'huge-dimensions', 'zero-byte', '16-bit', 'cmyk', 'animated-gif', 'truncated']) assert.ok(inputs[kind], `the run tried ${kind}`);
  assert.deepEqual(readdirSync(dir), [], 'nothing left in the hot folder');
  recordFaults({ test: 'hot-folder fuzz', inputs, crashes: 0 });
});
