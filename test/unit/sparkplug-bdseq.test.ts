import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BDSEQ_FILE, nextBdSeq } from '../../src/sink/sparkplug/bdseq.js';
import { tempDir } from '../helpers/daemon-harness.js';

test('bdSeq: 0 on a fresh folder, +1 per call and persisted, 255 wraps to 0, an unreadable file starts again at 0', async (t) => {
  const tmp = tempDir('inspectd-bdseq-');
  t.after(() => tmp.cleanup());
  const dir = path.join(tmp.dir, 'state');
  assert.equal(await nextBdSeq(dir), 0);
  assert.equal(await nextBdSeq(dir), 1);
  assert.equal(readFileSync(path.join(dir, BDSEQ_FILE), 'utf8').trim(), '1');
  writeFileSync(path.join(dir, BDSEQ_FILE), '254\n');
  assert.equal(await nextBdSeq(dir), 255);
  assert.equal(await nextBdSeq(dir), 0);
  writeFileSync(path.join(dir, BDSEQ_FILE), 'garbage');
  assert.equal(await nextBdSeq(dir), 0);
  writeFileSync(path.join(dir, BDSEQ_FILE), '999');
  assert.equal(await nextBdSeq(dir), 0);
});

test('bdSeq: a folder that cannot be written is an OUTBOX_IO error naming the file', async (t) => {
  const tmp = tempDir('inspectd-bdseq-');
  t.after(() => tmp.cleanup());
  const blocker = path.join(tmp.dir, 'file');
  writeFileSync(blocker, 'x');
  await assert.rejects(nextBdSeq(path.join(blocker, 'sub')), (err: Error & { code?: string }) => err.code === 'INSPECTD_ERR_OUTBOX_IO' && err.message.includes(BDSEQ_FILE));
});
