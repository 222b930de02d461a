import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../src/app/commands.js';

const parse = (name: string, text: string) => parseCommand(name, Buffer.from(text));

test('pause/resume: only an empty payload, {} or {"camera":"*"} means every camera', () => {
  for (const text of ['', '{}', '{"camera":"*"}', '  ']) assert.deepEqual(parse('pause', text), { ok: true, command: { kind: 'pause', camera: '*' } }, text);
  assert.deepEqual(parse('resume', '{"camera":"cam1"}'), { ok: true, command: { kind: 'resume', camera: 'cam1' } });
});

test('pause/resume: a payload that does not validate is refused, never widened to every camera', () => {
  const cases: [string, RegExp][] = [
    ['not json', /not valid JSON/],
    ['{"cam":"slides"}', /unknown field "cam"/],
    ['{"camera":123}', /"camera" must be a non-empty string/],
    ['{"camera":""}', /"camera" must be a non-empty string/],
    ['["cam1"]', /must be a JSON object/],
    ['"cam1"', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['[1,2]', /must be a JSON object/],
    ['42', /must be a JSON object/],
  ];
  for (const [text, reason] of cases) {
    const r = parse('pause', text);
    assert.equal(r.ok, false, `${text} refused`);
    if (!r.ok) assert.match(r.reason, reason, text);
  }
});

test('trigger: JSON or plain-text part ids; malformed ones refused with the expected form', () => {
  assert.deepEqual(parse('trigger', '{"camera":"c2","partId":"P-42"}'), { ok: true, command: { kind: 'trigger', camera: 'c2', partId: 'P-42' } });
  assert.deepEqual(parse('trigger', '{"partId":17}'), { ok: true, command: { kind: 'trigger', partId: '17' } });
  assert.deepEqual(parse('trigger', 'P-43'), { ok: true, command: { kind: 'trigger', partId: 'P-43' } });
  for (const text of [
    '',
    '{}',
    '{"camera":"c2"}',
    '{"partId":""}',
    `{"partId":"${'x'.repeat(201)}"}`,
    '{"partId":{}}',
    '[1]',
    'null',
    '{"camera":5,"partId":"a"}',
    '{"part":"a"}',
  ]) {
    const r = parse('trigger', text);
    assert.equal(r.ok, false, `${text} refused`);
    if (!r.ok) assert.match(r.reason, /expected \{"camera"/, text);
  }
});

test('reload takes any payload; an unknown command is refused', () => {
  assert.deepEqual(parse('reload', 'whatever'), { ok: true, command: { kind: 'reload' } });
  assert.equal(parse('explode', '').ok, false);
});
