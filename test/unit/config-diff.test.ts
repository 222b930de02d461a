import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffConfig, isEmptyDiff } from '../../src/config/diff.js';
import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const BASE = `device: {id: box}
model: {path: m.onnx, conf: 0.25}
cameras:
  - id: a
    source: {type: synthetic, fps: 5}
    rules: {rejectClasses: [dent]}
  - id: b
    source: {type: synthetic, fps: 5}
  - id: c
    source: {type: synthetic, fps: 5}
mqtt: {url: "mqtt://127.0.0.1:1883"}
`;

const cfg = (text: string): Config => parseConfigText(text, 'c.yaml', '/x').config;

test('identical configs: empty diff', { timeout: 5000 }, () => {
  const d = diffConfig(cfg(BASE), cfg(BASE));
  assert.ok(isEmptyDiff(d));
});

test('cameras added, removed, restarted (source) and hot rules changes', { timeout: 5000 }, () => {
  const next = BASE.replace('rejectClasses: [dent]', 'rejectClasses: [dent, scratch]')
    .replace('  - id: b\n    source: {type: synthetic, fps: 5}\n', '  - id: b\n    source: {type: synthetic, fps: 10}\n    rules: {minBoxArea: 4}\n')
    .replace('  - id: c\n', '  - id: d\n');
  const d = diffConfig(cfg(BASE), cfg(next));
  assert.deepEqual(d.cameras, { added: ['d'], removed: ['c'], restarted: ['b'], rulesChanged: ['a'] });
  assert.equal(d.model, false);
  assert.equal(d.mqtt, false);
});

test('deadline is hot; stall timeout restarts the source', { timeout: 5000 }, () => {
  const next = BASE.replace('  - id: a\n', '  - id: a\n    deadlineMs: 100\n').replace('  - id: b\n', '  - id: b\n    stallTimeoutMs: 900\n');
  const d = diffConfig(cfg(BASE), cfg(next));
  assert.deepEqual(d.cameras, { added: [], removed: [], restarted: ['b'], rulesChanged: ['a'] });
});

test('model, mqtt (incl. device id), http, outbox, log changes are flagged separately', { timeout: 5000 }, () => {
  const base = cfg(BASE);
  assert.deepEqual(diffConfig(base, cfg(BASE.replace('conf: 0.25', 'conf: 0.5'))), {
    model: true,
    cameras: { added: [], removed: [], restarted: [], rulesChanged: [] },
    mqtt: false,
    http: false,
    outbox: false,
    snapshots: false,
    log: false,
    console: false,
  });
  assert.equal(diffConfig(base, cfg(BASE.replace('id: box', 'id: box2'))).mqtt, true);
  const d = diffConfig(base, cfg(BASE + 'http: {port: 1}\noutbox: {maxBytes: 2048}\nlog: {level: debug}\n'));
  assert.deepEqual([d.model, d.mqtt, d.http, d.outbox, d.log], [false, false, true, true, true]);
});
