/**
 * cmd/encoder and the encoder field of cmd/trigger as the PLC sends them; the persisted boot counter that
 * makes part ids (and verdict keys) unique across restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCommand } from '../../src/app/commands.js';
import { BOOT_ID_FILE, loadBootId } from '../../src/app/boot-id.js';
import { ErrorCodes } from '../../src/errors.js';

const cmd = (name: string, text: string) => parseCommand(name, Buffer.from(text));

test('cmd/encoder: JSON with count, camera and at (ms or ISO), or a plain number', () => {
  assert.deepEqual(cmd('encoder', '{"camera": "line1", "count": 12345, "at": 1700000000000}'), {
    ok: true,
    command: { kind: 'encoder', camera: 'line1', count: 12345, at: 1_700_000_000_000 },
  });
  assert.deepEqual(cmd('encoder', '{"count": 7, "at": "2024-01-01T00:00:00.000Z"}'), {
    ok: true,
    command: { kind: 'encoder', count: 7, at: Date.parse('2024-01-01T00:00:00.000Z') },
  });
  assert.deepEqual(cmd('encoder', ' 4096 '), { ok: true, command: { kind: 'encoder', count: 4096 } });
  for (const bad of ['', 'abc', '{"count": "12"}', '{"camera": "x"}', '{"count": 1, "at": "yesterday"}', '{"count": 1e400}']) {
    const r = cmd('encoder', bad);
    assert.equal(r.ok, false, `refused: ${bad}`);
  }
});

test('cmd/trigger: an optional encoder count; a non-number is refused', () => {
  assert.deepEqual(cmd('trigger', '{"camera": "c", "partId": "P-1", "encoder": 900}'), { ok: true, command: { kind: 'trigger', camera: 'c', partId: 'P-1', encoder: 900 } });
  assert.deepEqual(cmd('trigger', 'P-2'), { ok: true, command: { kind: 'trigger', partId: 'P-2' } });
  assert.equal(cmd('trigger', '{"partId": "P-3", "encoder": "900"}').ok, false);
});

test('boot counter: 1 on a fresh folder, then +1 on every start, persisted', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-boot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sub = path.join(dir, 'state', 'outbox');
  assert.equal(await loadBootId(sub), 1, 'the folder is created');
  assert.equal(await loadBootId(sub), 2);
  assert.equal(await loadBootId(sub), 3);
  assert.equal(readFileSync(path.join(sub, BOOT_ID_FILE), 'utf8'), '3\n');
});

test('boot counter: a corrupt file is replaced by the time in seconds (no id can repeat); an unwritable folder is an error', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-boot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, BOOT_ID_FILE), 'garbage');
  assert.equal(await loadBootId(dir, () => 1_700_000_000_000), 1_700_000_000);
  assert.equal(await loadBootId(dir), 1_700_000_001);
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'x');
  await assert.rejects(loadBootId(path.join(file, 'sub')), (err: { code?: string; message?: string }) => {
    assert.equal(err.code, ErrorCodes.OUTBOX_IO);
    assert.match(String(err.message), /part ids would repeat after a restart/);
    return true;
  });
});
