// The pure parts of `npm run bench` (bench/stats.ts): statistics, /proc parsing, the BENCHMARKS.md rewrite. Code, not speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TABLE_END,
  TABLE_START,
  THREAD_NAMES,
  cpuByGroup,
  fmtRatio,
  idleFraction,
  markdownTable,
  parseProcStat,
  parseSchedstat,
  quantile,
  ratioSpread,
  rewriteTableSection,
  rotate,
  spread,
  threadGroup,
} from '../../bench/stats.js';

test('quantile interpolates linearly between order statistics and ignores non-finite values', () => {
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.25), 2);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.75), 4);
  assert.equal(quantile([10, 20], 0.25), 12.5);
  assert.equal(quantile([7], 0.99), 7);
  assert.equal(quantile([1, NaN, 3, Infinity], 0.5), 2);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('ratioSpread pairs rounds: the median of per-round ratios, not the ratio of medians', () => {
  // Round speed drifts 2x; within each round the pipeline is 0.9x the bare loop.
  const bare = [100, 50, 200, 100, 80];
  const pipe = bare.map((b) => b * 0.9);
  const s = ratioSpread(pipe, bare);
  assert.equal(s.n, 5);
  assert.ok(Math.abs(s.median - 0.9) < 1e-12);
  assert.ok(Math.abs(s.q1 - 0.9) < 1e-12 && Math.abs(s.q3 - 0.9) < 1e-12);
  // A round without a figure on either side, or a zero denominator, is left out rather than counted.
  const gaps = ratioSpread([1, 2, NaN, 4], [1, 0, 3, 2]);
  assert.deepEqual(gaps.ratios, [1, 2]);
  assert.equal(gaps.n, 2);
  assert.equal(ratioSpread([], []).n, 0);
  assert.equal(fmtRatio(ratioSpread([], [])), 'n/a');
});

test('spread gives median and quartiles; fmtRatio prints them', () => {
  const s = spread([0.8, 0.9, 1.0, 1.1, 1.2]);
  assert.deepEqual({ median: s.median, n: s.n }, { median: 1.0, n: 5 });
  assert.ok(Math.abs(s.q1 - 0.9) < 1e-12 && Math.abs(s.q3 - 1.1) < 1e-12);
  assert.equal(fmtRatio(s), '1.00× (0.90–1.10)');
});

test('rotate gives each block every position over the rounds', () => {
  const kinds = ['a', 'b', 'c'];
  assert.deepEqual(rotate(kinds, 0), ['a', 'b', 'c']);
  assert.deepEqual(rotate(kinds, 1), ['b', 'c', 'a']);
  assert.deepEqual(rotate(kinds, 5), ['c', 'a', 'b']);
  const firsts = new Set([0, 1, 2].map((r) => rotate(kinds, r)[0]));
  assert.equal(firsts.size, 3);
  assert.deepEqual(rotate([], 3), []);
});

test('parseSchedstat reads run ns, wait ns and slices, and refuses malformed text', () => {
  assert.deepEqual(parseSchedstat('224166 1500 7\n'), { runNs: 224166, waitNs: 1500, slices: 7 });
  assert.deepEqual(parseSchedstat('  12345678901234 0 1'), { runNs: 12345678901234, waitNs: 0, slices: 1 });
  assert.equal(parseSchedstat(''), null);
  assert.equal(parseSchedstat('1 2'), null);
  assert.equal(parseSchedstat('a b c'), null);
  assert.equal(parseSchedstat('-1 0 0'), null);
});

test('threadGroup groups by the names the bench gives threads; the main thread by its id', () => {
  assert.equal(threadGroup('node\n', true), 'main');
  assert.equal(threadGroup(THREAD_NAMES.libuv, false), 'libuv pool');
  assert.equal(threadGroup(THREAD_NAMES.ortEnginePool, false), 'ort pool (engine)');
  assert.equal(threadGroup(THREAD_NAMES.ortMainPool, false), 'ort pool (main-thread sessions)');
  assert.match(threadGroup(THREAD_NAMES.ortWorker, false), /^engine worker/);
  assert.equal(threadGroup('libvips worker', false), 'libvips');
  assert.equal(threadGroup('node', false), 'node (other)');
  assert.equal(threadGroup('mystery', false), 'other (mystery)');
  // comm is at most 15 characters: every name the bench writes must fit, or the kernel cuts it and grouping misses.
  for (const n of Object.values(THREAD_NAMES)) assert.ok(n.length <= 15, n);
});

test('cpuByGroup sums per-thread deltas; threads born meanwhile count from zero', () => {
  const before = new Map([
    [1, { group: 'main', runNs: 1_000 }],
    [2, { group: 'ort pool (engine)', runNs: 500 }],
    [3, { group: 'ort pool (engine)', runNs: 700 }],
    [9, { group: 'libvips', runNs: 50 }], // exits before the second snapshot
  ]);
  const after = new Map([
    [1, { group: 'main', runNs: 4_000 }],
    [2, { group: 'ort pool (engine)', runNs: 1_500 }],
    [3, { group: 'ort pool (engine)', runNs: 700 }],
    [4, { group: 'libvips', runNs: 300 }],
  ]);
  assert.deepEqual(cpuByGroup(before, after), { main: 3_000, 'ort pool (engine)': 1_000, libvips: 300 });
});

test('parseProcStat and idleFraction: idle + iowait over all ticks of the cpu line', () => {
  const a = parseProcStat('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n');
  assert.deepEqual(a, { idle: 850, total: 1000 });
  const b = parseProcStat('cpu  200 0 100 1000 100 0 0 0 0 0\n')!;
  assert.equal(idleFraction(a!, b), (1100 - 850) / (1400 - 1000));
  assert.ok(Number.isNaN(idleFraction(b, b)));
  assert.equal(parseProcStat('intr 1 2 3\n'), null);
});

test('rewriteTableSection replaces only the marked section and keeps the rest', () => {
  const md = `# Benchmarks\n\nNotes by hand.\n\n${TABLE_START}\nold table\n${TABLE_END}\n\nMore notes.\n`;
  const out = rewriteTableSection(md, '| a |\n| --- |\n| 1 |\n');
  assert.equal(out, `# Benchmarks\n\nNotes by hand.\n\n${TABLE_START}\n| a |\n| --- |\n| 1 |\n${TABLE_END}\n\nMore notes.\n`);
  // Rewriting again is stable: one section, never two.
  const again = rewriteTableSection(out, 'new');
  assert.equal(again.split(TABLE_START).length, 2);
  assert.ok(again.includes(`${TABLE_START}\nnew\n${TABLE_END}`) && again.includes('Notes by hand.') && again.includes('More notes.'));
  // No markers yet: appended; an empty file gets a title.
  assert.equal(rewriteTableSection('', 'x'), `# Benchmarks\n\n${TABLE_START}\nx\n${TABLE_END}\n`);
  assert.equal(rewriteTableSection('# B\n\ntext\n\n', 'x'), `# B\n\ntext\n\n${TABLE_START}\nx\n${TABLE_END}\n`);
});

test('markdownTable escapes pipes in cells', () => {
  assert.equal(markdownTable(['a', 'b'], [['1', 'x|y']]), '| a | b |\n| --- | --- |\n| 1 | x\\|y |');
});
