/**
 * Config files fuzzed (fast-check, seeded, bounded): mutated copies of the example config, arbitrary
 * values written as YAML, and hostile YAML (alias bombs, deep nesting, duplicate keys, huge numbers,
 * unicode). Every input is either accepted (a frozen config) or refused with CONFIG_INVALID whose every
 * problem names the file and a line: never another exception, never a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigInvalidError, parseConfigText } from '../../src/config/load.js';
import { repoPath } from '../helpers/fixtures.js';

const FILE = 'fuzz.yaml';
const EXAMPLE = readFileSync(repoPath('deploy', 'config.example.yaml'), 'utf8');
/** Seeds of runs that once failed, replayed first (none so far). */
const REGRESSION_SEEDS: number[] = [];
const SEED = 20261202;

function check(text: string): 'accepted' | 'refused' {
  try {
    const loaded = parseConfigText(text, FILE, '/tmp/inspectd-fuzz');
    assert.ok(Object.isFrozen(loaded.config), 'an accepted config is frozen');
    return 'accepted';
  } catch (err) {
    if (!(err instanceof ConfigInvalidError)) throw new Error(`not a CONFIG_INVALID refusal: ${String(err)}\n--- input ---\n${text.slice(0, 500)}`);
    assert.ok(err.problems.length > 0);
    for (const p of err.problems) {
      assert.equal(p.file, FILE);
      assert.ok(typeof p.line === 'number' && p.line >= 1, `problem without a line: ${JSON.stringify(p)}`);
    }
    return 'refused';
  }
}

const scalar = fc.oneof(
  fc.constantFrom('1e12', '-1', '.nan', '.inf', '-.inf', '0x7fffffffffffffff', '1e308', 'null', '~', 'true', '""', "'\u0000'", '"#"', '+', '[]', '{}', '*x', '&x 1'),
  fc.string({ maxLength: 20 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);

type Edit = { kind: 'delete' | 'insert' | 'dupLine' | 'value'; at: number; len?: number; text?: string; value?: string };

/** One random edit of a config text: delete, insert, duplicate or swap lines, or replace a value. */
const mutation: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(':', '- ', '\n  ', '\t', '{', '[', '&a', '*a', '<<: *a', '!!binary', '%YAML 1.2\n---\n')),
  }),
  fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('value' as const), at: fc.nat(), value: scalar }),
);

function mutate(text: string, edits: readonly Edit[]): string {
  let s = text;
  for (const e of edits) {
    const lines = s.split('\n');
    const at = e.at % Math.max(1, s.length);
    if (e.kind === 'delete') s = s.slice(0, at) + s.slice(at + (e.len ?? 1));
    else if (e.kind === 'insert') s = s.slice(0, at) + e.text + s.slice(at);
    else if (e.kind === 'dupLine') {
      const i = e.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      s = lines.join('\n');
    } else {
      const i = e.at % lines.length;
      const m = /^(\s*(?:- )?[A-Za-z$][\w]*:\s*)(.*)$/.exec(lines[i]!);
      if (m) lines[i] = m[1] + e.value;
      s = lines.join('\n');
    }
  }
  return s;
}

test('fuzz: mutated copies of the example config are accepted or refused with file:line', { timeout: 120_000 }, () => {
  const seen = { accepted: 0, refused: 0 };
  for (const seed of [...REGRESSION_SEEDS, SEED]) {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (edits) => {
        seen[check(mutate(EXAMPLE, edits))]++;
      }),
      { seed, numRuns: 400 },
    );
  }
  assert.ok(seen.refused > 0 && seen.accepted > 0, `both outcomes reached: ${JSON.stringify(seen)}`);
});

test('fuzz: arbitrary values written as YAML are accepted or refused with file:line', { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.anything({ maxDepth: 4 }), fc.record({ model: fc.anything({ maxDepth: 2 }), cameras: fc.anything({ maxDepth: 3 }), mqtt: fc.anything({ maxDepth: 2 }) })),
      (value) => {
        let text: string | undefined;
        try {
          text = stringify(value);
        } catch {
          return; // not representable as YAML (e.g. a symbol): nothing to feed
        }
        if (typeof text === 'string') check(text); // stringify(undefined) is no text at all
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});

test('hostile YAML: alias bombs, deep nesting, duplicate keys, huge and unicode values are refused cleanly', { timeout: 60_000 }, () => {
  const bomb = [
    'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
    ...Array.from(
      { length: 9 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(',')}]`,
    ),
    'model: { path: m.onnx }',
    'cameras: [{ id: c, source: { type: synthetic } }]',
  ].join('\n');
  const deep = `model: { path: m.onnx }\ncameras: ${'['.repeat(2000)}${']'.repeat(2000)}\n`;
  const dupes = 'model: { path: m.onnx }\nmodel: { path: n.onnx }\ncameras: [{ id: c, source: { type: synthetic } }]\n';
  const huge = 'model: { path: m.onnx, threads: 1e300 }\ncameras: [{ id: c, source: { type: synthetic, fps: .inf, width: 99999999999999999999 } }]\n';
  const unicode = 'model: { path: "m\u0000.onnx" }\ncameras: [{ id: "cam\u{1F600}", source: { type: synthetic } }]\ndevice: { id: "d\u202Eevil" }\n';
  for (const text of [bomb, deep, dupes, huge, unicode]) assert.equal(check(text), 'refused', text.slice(0, 80));
});
