import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyntheticSource } from '../../src/source/synthetic.js';
import { renderScene } from '../../src/synth/scene.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { SyntheticSourceConfig } from '../../src/config/types.js';

const cfg = (over: Partial<SyntheticSourceConfig> = {}): SyntheticSourceConfig => ({
  type: 'synthetic',
  fps: 25,
  width: 160,
  height: 120,
  seed: 11,
  defectRate: 0.5,
  scene: 'still',
  beltPxPerFrame: 64,
  lossless: false,
  ...over,
});

/** Collects frames until n arrived or the time budget ran out. */
function collect(src: SyntheticSource, n: number, budgetMs: number): Promise<{ frames: Frame[]; ended: (Error | null)[] }> {
  const frames: Frame[] = [];
  const ended: (Error | null)[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ frames, ended }), budgetMs);
    src
      .start({
        frame: (f) => {
          frames.push(f);
          if (frames.length === n) {
            clearTimeout(timer);
            resolve({ frames, ended });
          }
        },
        ended: (e) => ended.push(e),
      })
      .catch(reject);
  });
}

test('SyntheticSource emits rgb24 frames of the configured size with increasing seq', { timeout: 10_000 }, async (t) => {
  const src = new SyntheticSource('cam1', cfg());
  t.after(() => src.stop());
  const { frames, ended } = await collect(src, 5, 5_000);
  await src.stop();
  assert.equal(frames.length, 5);
  assert.deepEqual(ended, []);
  frames.forEach((f, i) => {
    assert.equal(f.cameraId, 'cam1');
    assert.equal(f.seq, i);
    assert.equal(f.format, 'rgb24');
    assert.equal(f.width, 160);
    assert.equal(f.height, 120);
    assert.equal(f.data.length, 160 * 120 * 3);
    if (i > 0) assert.ok(f.captureMono > frames[i - 1].captureMono);
  });
});

test('SyntheticSource content is deterministic: frame n is scene n of the seed', { timeout: 10_000 }, async (t) => {
  const a = new SyntheticSource('a', cfg());
  const b = new SyntheticSource('b', cfg());
  t.after(() => Promise.all([a.stop(), b.stop()]));
  const [ra, rb] = await Promise.all([collect(a, 3, 5_000), collect(b, 3, 5_000)]);
  await Promise.all([a.stop(), b.stop()]);
  assert.equal(ra.frames.length, 3);
  assert.equal(rb.frames.length, 3);
  for (let i = 0; i < 3; i++) assert.ok(ra.frames[i].data.equals(rb.frames[i].data), `frame ${i}`);
  const scene2 = await renderScene(11, 2, { width: 160, height: 120, defectRate: 0.5 });
  assert.ok(ra.frames[2].data.equals(scene2.rgb));
  assert.ok(!ra.frames[0].data.equals(ra.frames[1].data));
});

test('SyntheticSource stop() stops the frames and is idempotent; constructor does nothing', { timeout: 10_000 }, async () => {
  const src = new SyntheticSource('cam', cfg({ fps: 50 }));
  let count = 0;
  await new Promise<void>((resolve) => {
    void src.start({
      frame: () => {
        if (++count === 2) resolve();
      },
      ended: () => {},
    });
  });
  await src.stop();
  await src.stop();
  const at = count;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(count, at, 'frames arrived after stop()');
  // Never started: stop() is a no-op.
  await new SyntheticSource('idle', cfg()).stop();
});

test('SyntheticSource paces at config.fps without drift', { timeout: 10_000 }, async (t) => {
  const src = new SyntheticSource('cam', cfg({ fps: 20, width: 64, height: 48 }));
  t.after(() => src.stop());
  const { frames } = await collect(src, 11, 5_000);
  await src.stop();
  assert.equal(frames.length, 11);
  // 10 intervals at 20 fps: 500 ms nominal. Loose bounds: this is behaviour (pacing), not a benchmark.
  const span = frames[10].captureMono - frames[0].captureMono;
  assert.ok(span > 400 && span < 1500, `span ${span} ms`);
});

test('SyntheticSource rejects bad config at start with a clear error, and double start', { timeout: 5_000 }, async (t) => {
  const noop = { frame: () => {}, ended: () => {} };
  await assert.rejects(new SyntheticSource('x', cfg({ fps: 0 })).start(noop), { code: 'INSPECTD_ERR_CONFIG_INVALID', message: /fps/ });
  await assert.rejects(new SyntheticSource('x', cfg({ width: 10 })).start(noop), { code: 'INSPECTD_ERR_CONFIG_INVALID', message: /width/ });
  await assert.rejects(new SyntheticSource('x', cfg({ defectRate: 2 })).start(noop), { code: 'INSPECTD_ERR_CONFIG_INVALID', message: /defectRate/ });
  const src = new SyntheticSource('x', cfg());
  t.after(() => src.stop());
  await src.start(noop);
  await assert.rejects(src.start(noop), { code: 'INSPECTD_ERR_LIFECYCLE' });
  await src.stop();
});
