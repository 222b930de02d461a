/** The subcommands' one argument parser (src/cli/args.ts): usage errors in our words, with a "did you mean". */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestMatch, parseCommandArgs } from '../../src/cli/args.js';
import { CLASSES_SHOWN, formatClasses } from '../../src/cli/info.js';

const HELP = 'usage: inspectd x --model M [--json] [--iterations N]\n';
const OPTIONS = {
  model: { type: 'string', short: 'm' },
  json: { type: 'boolean' },
  iterations: { type: 'string' },
  'max-det': { type: 'string' },
} as const;

function usageMessage(argv: string[], positionals = false): string {
  try {
    if (positionals) parseCommandArgs(argv, HELP, OPTIONS, true);
    else parseCommandArgs(argv, HELP, OPTIONS);
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'INSPECTD_ERR_USAGE');
    return (err as Error).message;
  }
  assert.fail(`no usage error for ${argv.join(' ')}`);
}

test('closestMatch: typos and transpositions, unique abbreviations, nothing for unrelated words', () => {
  const names = Object.keys(OPTIONS);
  assert.equal(closestMatch('modle', names), 'model');
  assert.equal(closestMatch('mdoel', names), 'model');
  assert.equal(closestMatch('jsno', names), 'json');
  assert.equal(closestMatch('iterations', names), 'iterations');
  assert.equal(closestMatch('iter', names), 'iterations', 'a unique prefix');
  assert.equal(closestMatch('max_det', names), 'max-det');
  assert.equal(closestMatch('bogus', names), undefined);
  assert.equal(closestMatch('m', names), undefined, 'one letter is no basis for a guess');
  assert.equal(closestMatch('detcet', ['detect', 'info', 'run', 'eval']), 'detect');
  assert.equal(closestMatch('frobnicate', ['detect', 'info', 'run', 'eval']), undefined);
});

test('parseCommandArgs: an unknown option is named with a suggestion, in our words, and the usage follows', () => {
  assert.equal(usageMessage(['--modle', 'x.onnx']), `unknown option '--modle'; did you mean --model?\n${HELP}`);
  assert.equal(usageMessage(['--modle=x.onnx']), `unknown option '--modle'; did you mean --model?\n${HELP}`);
  assert.equal(usageMessage(['--bogus']), `unknown option '--bogus'\n${HELP}`);
  assert.equal(usageMessage(['-x']), `unknown option '-x'\n${HELP}`);
});

test('parseCommandArgs: missing values, values given to flags and stray words are usage errors in our words', () => {
  assert.equal(usageMessage(['--model']), `--model needs a value\n${HELP}`);
  assert.equal(usageMessage(['-m']), `-m needs a value\n${HELP}`);
  assert.match(usageMessage(['--model', '--json']), /^--model needs a value, got '--json', which reads as an option \(write --model=--json if it is the value\)\n/);
  assert.equal(usageMessage(['--json=yes']), `--json takes no value, got '--json=yes'\n${HELP}`);
  assert.equal(usageMessage(['image.jpg']), `unexpected argument 'image.jpg': this command takes options only\n${HELP}`);
  for (const argv of [['--modle'], ['--model'], ['x.jpg'], ['--json=1']]) {
    assert.doesNotMatch(usageMessage(argv), /positional argument|argument missing|ERR_PARSE_ARGS|does not take an argument/, argv.join(' '));
  }
});

test('parseCommandArgs: valid arguments come back typed; an explicit value may start with a dash', () => {
  const r = parseCommandArgs(['-m', 'a.onnx', '--json', 'x.jpg', '--', '--odd.jpg'], HELP, OPTIONS, true);
  assert.ok(r);
  assert.equal(r.values.model, 'a.onnx');
  assert.equal(r.values.json, true);
  assert.deepEqual(r.positionals, ['x.jpg', '--odd.jpg']);
  assert.equal(parseCommandArgs(['--iterations=-1'], HELP, OPTIONS)?.values.iterations, '-1');
});

test('parseCommandArgs: --help prints the usage on stdout and wins over a typo next to it', (t) => {
  const out: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => {
    out.push(String(s));
    return true;
  }) as typeof process.stdout.write;
  t.after(() => {
    process.stdout.write = orig;
  });
  assert.equal(parseCommandArgs(['--modle', 'x', '--help'], HELP, OPTIONS), undefined);
  assert.equal(parseCommandArgs(['-h'], HELP, OPTIONS), undefined);
  process.stdout.write = orig;
  assert.deepEqual(out, [HELP, HELP]);
});

test('info: the text lists the first classes and says how many more there are and how to see them', () => {
  const names = Array.from({ length: 80 }, (_, i) => `c${i}`);
  const cut = formatClasses(names, false);
  assert.match(cut, new RegExp(`^80: 0:c0, 1:c1, .*, ${CLASSES_SHOWN - 1}:c${CLASSES_SHOWN - 1}, … and ${80 - CLASSES_SHOWN} more \\(--all or --json lists every class\\)$`));
  assert.ok(!cut.includes(`${CLASSES_SHOWN}:c${CLASSES_SHOWN}`));
  const all = formatClasses(names, true);
  assert.ok(all.endsWith(', 79:c79'), all);
  assert.ok(!all.includes('more'));
  assert.equal(formatClasses(['a', 'b'], false), '2: 0:a, 1:b');
});
