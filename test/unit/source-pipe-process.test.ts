import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from '../../src/contracts/frame.js';
import { PipeProcessSource } from '../../src/source/raw-pipe.js';

test('stop() escalates to SIGKILL for a process that ignores SIGTERM, and waits for it', { timeout: 5000 }, async () => {
  const src = new PipeProcessSource({
    cameraId: 'c',
    kind: 'test',
    command: 'sh',
    args: ['-c', 'trap "" TERM; while :; do sleep 0.05; done'],
    width: 2,
    height: 2,
    origin: 'sh',
    killTimeoutMs: 200,
    installHint: 'install sh',
  });
  let ended: Error | null | undefined;
  await src.start({ frame: () => undefined, ended: (e) => (ended = e) });
  await new Promise((r) => setTimeout(r, 100)); // let the trap be installed
  const pid = src.pid!;
  const t0 = Date.now();
  await src.stop();
  const took = Date.now() - t0;
  assert.ok(took >= 150, `waited for the SIGTERM grace period (${took} ms)`);
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  assert.equal(ended, undefined, 'a requested stop is not reported as an end');
  await src.stop(); // idempotent
});

test('frames split across writes are reassembled; a trailing partial frame is not emitted', { timeout: 5000 }, async () => {
  // 2x2 rgb24 = 12 bytes per frame; write 2.5 frames in odd pieces with pauses
  const src = new PipeProcessSource({
    cameraId: 'c',
    kind: 'test',
    command: 'sh',
    args: ['-c', "printf 'AAAAAAA'; sleep 0.05; printf 'AAAAABBBB'; sleep 0.05; printf 'BBBBBBBBCCCCCC'"],
    width: 2,
    height: 2,
    origin: 'sh',
    installHint: 'install sh',
  });
  const frames: Frame[] = [];
  const ended = new Promise<Error | null>((resolve) => void src.start({ frame: (f) => frames.push(f), ended: resolve }));
  assert.equal(await ended, null);
  assert.deepEqual(
    frames.map((f) => f.data.toString()),
    ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'],
  );
  assert.deepEqual(
    frames.map((f) => f.seq),
    [0, 1],
  );
  await src.stop();
});
