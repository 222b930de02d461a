/** MQTT command payloads fuzzed (fast-check, seeded): the parser never throws and never widens a command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommand } from '../../src/app/commands.js';

const NAMES = ['reload', 'pause', 'resume', 'trigger', 'explode', ''];
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
  fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)),
  fc
    .record({ camera: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant('*')), partId: fc.oneof(fc.string(), fc.integer(), fc.double()) }, { requiredKeys: [] })
    .map((o) => Buffer.from(JSON.stringify(o))),
);

test('fuzz: command payloads parse to a typed command or a refusal with a reason; nothing else', { timeout: 60_000 }, () => {
  let refused = 0;
  fc.assert(
    fc.property(fc.constantFrom(...NAMES), payload, (name, body) => {
      const r = parseCommand(name, body);
      if (!r.ok) {
        refused++;
        assert.ok(r.reason.length > 0);
        return;
      }
      const c = r.command;
      assert.equal(c.kind, name === 'resume' || name === 'pause' || name === 'reload' || name === 'trigger' ? name : 'never');
      if (c.kind === 'pause' || c.kind === 'resume') {
        assert.equal(typeof c.camera, 'string');
        assert.ok(c.camera.length > 0);
        // Every camera only for the explicit forms.
        if (c.camera === '*')
          assert.ok(
            ['', '{}', '{"camera":"*"}'].includes(body.toString('utf8').trim().replace(/\s/g, '')) ||
              /^\{\s*"camera"\s*:\s*"\*"\s*\}$/.test(body.toString('utf8').trim()) ||
              body.toString('utf8').trim() === '',
            body.toString('utf8'),
          );
      }
      if (c.kind === 'trigger') assert.ok(c.partId.length >= 1 && c.partId.length <= 200);
    }),
    { seed: 20261202, numRuns: 3000 },
  );
  assert.ok(refused > 0);
});
