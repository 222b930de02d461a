import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, repoPath } from '../helpers/fixtures.js';

const CLI = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'cli', 'check-config.js')).href;

const LOAD = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'config', 'load.js')).href;

interface Where {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

function node(script: string, args: string[], where: Where): Promise<{ rc: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script, ...args], { timeout: 10000, cwd: where.cwd, env: where.env }, (error, out, err) => {
      resolve({ rc: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err });
    });
  });
}

/** Runs checkConfigCommand in a child process (the test runner owns this process's stdout). */
function run(args: string[], where: Where = {}): Promise<{ rc: number; out: string; err: string }> {
  const script = `import(${JSON.stringify(CLI)}).then((m) => m.checkConfigCommand(process.argv.slice(1))).then((rc) => { process.exitCode = rc; });`;
  return node(script, args, where);
}

/** The hash the daemon's loader (loadConfigFile, as in \`inspectd run\` and the config watcher) computes. */
async function loaderHash(file: string, where: Where): Promise<string> {
  const script = `import(${JSON.stringify(LOAD)}).then((m) => m.loadConfigFile(process.argv[1])).then((l) => process.stdout.write(l.hash));`;
  const r = await node(script, [file], where);
  assert.equal(r.rc, 0, r.err);
  return r.out;
}

test('check-config: the example config is ok (exit 0, prints the hash)', { timeout: 5000 }, async () => {
  const file = repoPath('deploy', 'config.example.yaml');
  const r = await run([file]);
  assert.equal(r.rc, 0, r.err);
  assert.match(r.out, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ok \\(hash [0-9a-f]{64}\\)\\n$`));
});

test('check-config: every problem with file:line:col, exit 1; no file is a usage error', { timeout: 5000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'model: {path: m.onnx, treshold: 1}\ncameras:\n  - id: a\n    source: {type: synthetic, fps: 0}\n');
  const r = await run([file]);
  assert.equal(r.rc, 1);
  assert.equal(
    r.err,
    `${file}: 2 problems\n` +
      `${file}:1:23 model.treshold: unknown key; known keys: path, labels, engine, threads, interOpThreads, spin, conf, iou, maxDetections, engineCacheDir\n` +
      `${file}:4:36 cameras[0].source.fps: must be > 0\n`,
  );
  const u = await run([]);
  assert.equal(u.rc, 2);
  assert.match(u.err, /usage: inspectd check-config FILE/);
  const missing = await run([path.join(dir, 'nope.yaml')]);
  assert.equal(missing.rc, 1);
  assert.match(missing.err, /cannot read config file/);
});

test('check-config and the loader print the same hash for the same file, whatever the cwd and STATE_DIRECTORY', { timeout: 30000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-hash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfgDir = path.join(dir, 'etc');
  const elsewhere = path.join(dir, 'elsewhere');
  mkdirSync(cfgDir);
  mkdirSync(elsewhere);
  const file = path.join(cfgDir, 'c.yaml');
  writeFileSync(file, 'model: {path: m.onnx}\ncameras:\n  - id: a\n    source: {type: folder, path: incoming}\n');
  const noState = { ...process.env };
  delete noState.STATE_DIRECTORY;
  const places: [string, string, Where][] = [
    ['absolute path, cwd elsewhere, no STATE_DIRECTORY', file, { cwd: elsewhere, env: noState }],
    ['relative path from the config folder', 'c.yaml', { cwd: cfgDir, env: noState }],
    ['STATE_DIRECTORY set', file, { cwd: elsewhere, env: { ...noState, STATE_DIRECTORY: path.join(dir, 'state') } }],
    ['another STATE_DIRECTORY and cwd', file, { cwd: dir, env: { ...noState, STATE_DIRECTORY: '/var/lib/inspectd' } }],
  ];
  const hashes = new Map<string, string>();
  for (const [what, arg, where] of places) {
    const r = await run([arg], where);
    assert.equal(r.rc, 0, r.err);
    const m = /: ok \(hash ([0-9a-f]{64})\)\n$/.exec(r.out);
    assert.ok(m, r.out);
    hashes.set(`check-config, ${what}`, m[1]);
    hashes.set(`loader, ${what}`, await loaderHash(arg, where));
  }
  const first = [...hashes.values()][0];
  for (const [what, h] of hashes) assert.equal(h, first, what);
  // What the file says still counts: a change of content changes the hash.
  writeFileSync(file, 'model: {path: m2.onnx}\ncameras:\n  - id: a\n    source: {type: folder, path: incoming}\n');
  assert.notEqual(await loaderHash(file, places[0][2]), first);
});

test('check-config on a file that is not a config: says so, lists at most 20 short problems and how many more', { timeout: 10000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'notes.md');
  // Shaped like a README: a first paragraph (a YAML scalar), headings, then prose with colons (YAML errors).
  const section = (i: number): string => `## Section ${i}\n\nPart ${i} of the notes, in prose with a colon: here, and \`code\` ${'words '.repeat(50)}\nmore prose`;
  writeFileSync(file, `# Notes\n\nAn introduction in prose, written\nover two lines.\n\n${Array.from({ length: 60 }, (_, i) => section(i)).join('\n\n')}\n`);
  const r = await run([file]);
  assert.equal(r.rc, 1);
  const lines = r.err.trimEnd().split('\n');
  const m = /^(.*): (\d+) problems$/.exec(lines[0]);
  assert.ok(m && m[1] === file, lines[0]);
  const total = Number(m[2]);
  assert.ok(total > 20, `expected many YAML problems, got ${total}`);
  assert.equal(lines.length, 1 + 20 + 1, r.err);
  assert.equal(lines[1], `${file}:1:1 does not look like an inspectd config: the top level is not a YAML mapping of keys (model:, cameras:, ...); is this the right file?`);
  for (const l of lines.slice(1, 21)) assert.ok(l.length <= 240, `line too long (${l.length}): ${l}`);
  assert.equal(lines[21], `… and ${total - 20} more`);
  assert.ok(r.err.length < 6000, `${r.err.length} bytes of output`);

  for (const [name, text] of [
    ['scalar.yaml', 'just some words\n'],
    ['list.yaml', '- model\n- cameras\n'],
  ]) {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    const s = await run([f]);
    assert.equal(s.rc, 1);
    assert.equal(
      s.err,
      `${f}: 1 problem\n${f}:1:1 does not look like an inspectd config: the top level is not a YAML mapping of keys (model:, cameras:, ...); is this the right file?\n`,
    );
  }
});

test('check-config: a rule naming a class the model lacks is refused with file:line and a suggestion', { timeout: 10000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-classes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.yaml');
  const model = repoPath('models', 'demo', 'inspectd-demo.onnx');
  writeFileSync(
    file,
    [
      `model: { path: ${JSON.stringify(model)} }`,
      'cameras:',
      '  - id: cam1',
      '    source: { type: synthetic }',
      '    rules:',
      '      rejectClasses: [scrath, dent, "7"]',
      '      classConf: { stian: 0.5 }',
      '',
    ].join('\n'),
  );
  const r = await run([file]);
  assert.equal(r.rc, 1, r.out + r.err);
  assert.match(r.err, /3 problems/);
  assert.match(r.err, /config\.yaml:6:\d+ cameras\[0\]\.rules\.rejectClasses\[0\]: unknown class 'scrath'.*did you mean 'scratch'/);
  assert.match(r.err, /config\.yaml:6:\d+ cameras\[0\]\.rules\.rejectClasses\[2\]: class id 7 is out of range: model inspectd-demo\.onnx has 5 classes/);
  assert.match(r.err, /config\.yaml:7:\d+ cameras\[0\]\.rules\.classConf\.stian: unknown class 'stian'.*did you mean 'stain'/);

  writeFileSync(
    file,
    [`model: { path: ${JSON.stringify(model)} }`, 'cameras:', '  - id: cam1', '    source: { type: synthetic }', '    rules: { rejectClasses: [scratch, "1"] }', ''].join('\n'),
  );
  const ok = await run([file]);
  assert.equal(ok.rc, 0, ok.err);
  assert.doesNotMatch(ok.err, /not checked/);
});
