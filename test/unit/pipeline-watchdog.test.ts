import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceWatchdog } from '../../src/ops/watchdog.js';
import { ConsoleSummary, formatSummary, summaryEnabled } from '../../src/ops/console-summary.js';

test('watchdog pings only when inference advanced, or when no frame is expected', () => {
  let progress = 0;
  let idle = false;
  let pings = 0;
  const withheld: string[] = [];
  const wd = new InferenceWatchdog({ intervalMs: 1000, progress: () => progress, idle: () => idle, ping: () => pings++, withheld: (r) => withheld.push(r) });
  wd.start();
  progress = 3;
  assert.equal(wd.tick(), true);
  assert.equal(wd.tick(), false, 'no progress since the last tick');
  assert.equal(wd.tick(), false);
  assert.equal(withheld.length, 1, 'withholding is reported once per stall');
  idle = true;
  assert.equal(wd.tick(), true, 'idle (nothing expected): ping');
  idle = false;
  progress = 4;
  assert.equal(wd.tick(), true);
  assert.equal(pings, 3);
  wd.stop();
  wd.stop();
});

test('console summary: enabled rule, line format, written on stderr-like sink', async (t) => {
  assert.equal(summaryEnabled('auto', false), false);
  assert.equal(summaryEnabled('auto', true), true);
  assert.equal(summaryEnabled('on', false), true);
  assert.equal(summaryEnabled('off', true), false);
  const line = formatSummary({
    fps: 9.96,
    p50Ms: 61.234,
    rejectsByClass: { scratch: 3, dent: 1 },
    broker: 'connected',
    outboxDepth: 0,
    engine: 'ort-cpu',
    cameras: [{ id: 'line1', state: 'ok' }],
  });
  assert.equal(line, '[inspectd] ort-cpu 10.0 fps | p50 61.2ms | rejects scratch=3 dent=1 | broker connected | outbox 0 | cams line1:ok');
  assert.match(formatSummary({ fps: 0, p50Ms: NaN, rejectsByClass: {}, broker: 'disconnected', outboxDepth: 5 }), /p50 - \| rejects 0 \| broker disconnected \| outbox 5$/);
  // decision: part cameras: parts tracked, and their verdicts by outcome, fail-safes among them.
  assert.equal(
    formatSummary({ fps: 5, p50Ms: 20, rejectsByClass: {}, parts: { seen: 41, reject: 13, pass: 28, failSafe: 1 }, broker: 'connected', outboxDepth: 0 }),
    '[inspectd] 5.0 fps | p50 20.0ms | parts 41 (reject 13, pass 28, fail-safe 1) | broker connected | outbox 0',
  );
  assert.match(
    formatSummary({ fps: 5, p50Ms: 20, rejectsByClass: { dent: 2 }, parts: { seen: 1, reject: 0, pass: 1, failSafe: 0 }, broker: 'connected', outboxDepth: 0 }),
    /\| rejects dent=2 \| parts 1 \(reject 0, pass 1, fail-safe 0\) \|/,
    'per-frame rejects of other cameras still shown',
  );
  const lines: string[] = [];
  const s = new ConsoleSummary({ intervalMs: 20, snapshot: () => ({ fps: 1, p50Ms: 2, rejectsByClass: {}, broker: 'connected', outboxDepth: 0 }), write: (l) => lines.push(l) });
  t.after(() => s.stop());
  s.start();
  for (let i = 0; i < 50 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  s.stop();
  assert.ok(lines.length >= 2);
});
