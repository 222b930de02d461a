/** Which way the engine layer's dependencies point (issue 8), read from the sources' import specifiers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { repoPath } from '../helpers/fixtures.js';

/** Each .ts module of a src/ folder with the modules it imports (static and dynamic), resolved to src/-relative paths. */
function importsOf(folder: string): Map<string, string[]> {
  const dir = repoPath('src', folder);
  const out = new Map<string, string[]>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const text = readFileSync(path.join(dir, name), 'utf8');
    const specs = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    out.set(
      `${folder}/${name}`,
      specs.map((s) => (s.startsWith('.') ? path.posix.join(folder, s).replace(/\.js$/, '.ts') : s)),
    );
  }
  return out;
}

function offending(modules: Map<string, string[]>, bad: (spec: string) => boolean): string[] {
  return [...modules].flatMap(([file, specs]) => specs.filter(bad).map((s) => `${file} imports ${s}`));
}

test('src/vision is maths and decoding only: nothing from the engines, the addon or onnxruntime', () => {
  const vision = importsOf('vision');
  assert.ok(vision.has('vision/letterbox.ts') && vision.has('vision/decode.ts'), 'read the vision modules');
  assert.ok(!vision.has('vision/detector.ts'), 'the Detector lives in src/inference');
  assert.deepEqual(
    offending(vision, (s) => /^(inference|native|engine)\//.test(s) || s.startsWith('onnxruntime')),
    [],
  );
});

test('src/inference is the one engine layer and does not import the CLI', () => {
  const engineDir = repoPath('src', 'engine');
  assert.deepEqual(existsSync(engineDir) ? readdirSync(engineDir).filter((n) => n.endsWith('.ts')) : [], [], 'src/engine is gone');
  const inference = importsOf('inference');
  for (const m of ['detector', 'engine-slot', 'ort', 'ort-worker', 'ort-protocol', 'select', 'tensorrt', 'trt-build', 'trt-upgrade']) {
    assert.ok(inference.has(`inference/${m}.ts`), `inference/${m}.ts`);
  }
  assert.deepEqual(
    offending(inference, (s) => s.startsWith('cli/') || s === 'main.ts'),
    [],
  );
});

test('the onnxruntime engine and its worker share a protocol module instead of importing each other', () => {
  const inference = importsOf('inference');
  assert.ok(!inference.get('inference/ort.ts')?.includes('inference/ort-worker.ts'));
  assert.ok(!inference.get('inference/ort-worker.ts')?.includes('inference/ort.ts'));
  assert.ok(inference.get('inference/ort.ts')?.includes('inference/ort-protocol.ts'));
  assert.ok(inference.get('inference/ort-worker.ts')?.includes('inference/ort-protocol.ts'));
});
