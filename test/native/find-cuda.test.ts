/** native/find_tensorrt.cjs: CUDA toolkit detection and the archs the letterbox kernel is compiled for. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../helpers/fixtures.js';

function find(what: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [repoPath('native', 'find_tensorrt.cjs'), what], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** A toolkit tree whose nvcc lists the given sm_ / compute_ archs (as `nvcc --list-gpu-code/--list-gpu-arch` do). */
function fakeToolkit(t: { after: (fn: () => void) => void }, archs: number[] | null): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'inspectd-fake-cuda-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ['bin', 'include', 'lib64']) mkdirSync(path.join(root, d));
  writeFileSync(path.join(root, 'include', 'cuda_runtime_api.h'), '');
  writeFileSync(path.join(root, 'lib64', 'libcudart.so'), '');
  const list = (prefix: string) => (archs ?? []).map((a) => `${prefix}${a}`).join('\n');
  writeFileSync(
    path.join(root, 'bin', 'nvcc'),
    archs === null // an nvcc older than CUDA 11 knows neither flag
      ? '#!/bin/sh\nexit 1\n'
      : `#!/bin/sh\ncase "$1" in\n--list-gpu-code) echo "${list('sm_')}";;\n--list-gpu-arch) echo "${list('compute_')}";;\n` +
          `--version) echo "Cuda compilation tools, release 11.4, V11.4.315";;\nesac\n`,
  );
  chmodSync(path.join(root, 'bin', 'nvcc'), 0o755);
  return root;
}

const base = { PATH: '/usr/bin:/bin' };

test('CUDA 13 (no sm_72): SASS for sm_87 and sm_90, PTX for its lowest arch; the summary says sm_72 was dropped', (t) => {
  const root = fakeToolkit(t, [75, 80, 86, 87, 89, 90, 100, 120]);
  const env = { ...base, CUDA_HOME: root };
  assert.equal(find('cuda', env), '1');
  assert.equal(find('nvcc', env), path.join(root, 'bin', 'nvcc'));
  assert.deepEqual(find('cuda_gencode', env).split('\n'), [
    '-gencode=arch=compute_87,code=sm_87',
    '-gencode=arch=compute_90,code=sm_90',
    '-gencode=arch=compute_75,code=compute_75',
  ]);
  assert.match(find('summary', env), /SASS sm_87 sm_90, PTX compute_75; not supported by this nvcc: sm_72/);
});

test('JetPack 5 (CUDA 11.4): Xavier sm_72 and Orin sm_87 get SASS', (t) => {
  const root = fakeToolkit(t, [53, 62, 72, 75, 80, 86, 87]);
  assert.deepEqual(find('cuda_gencode', { ...base, CUDA_HOME: root }).split('\n'), [
    '-gencode=arch=compute_72,code=sm_72',
    '-gencode=arch=compute_87,code=sm_87',
    '-gencode=arch=compute_53,code=compute_53',
  ]);
});

test('INSPECTD_CUDA_ARCHS picks the SASS targets; an nvcc that cannot list its archs gets them as asked', (t) => {
  const root = fakeToolkit(t, null);
  assert.deepEqual(find('cuda_gencode', { ...base, CUDA_HOME: root, INSPECTD_CUDA_ARCHS: 'sm_86, 89' }).split('\n'), [
    '-gencode=arch=compute_86,code=sm_86',
    '-gencode=arch=compute_89,code=sm_89',
    '-gencode=arch=compute_86,code=compute_86',
  ]);
});

test('a box without CUDA (INSPECTD_CUDA=0, or a toolkit without libcudart): nothing to compile, and the summary says so', (t) => {
  const off = { ...base, INSPECTD_CUDA: '0' };
  assert.equal(find('cuda', off), '0');
  assert.equal(find('cuda_gencode', off), '');
  assert.equal(find('cuda_preprocess', off), '0');
  assert.match(find('summary', off), /CUDA: INSPECTD_CUDA=0; the CUDA letterbox kernel is not built/);
  const root = fakeToolkit(t, [87]);
  rmSync(path.join(root, 'lib64', 'libcudart.so'));
  // CUDA_HOME wins over /usr/local/cuda, so its incompleteness decides even where a real toolkit is installed.
  const env = { ...base, CUDA_HOME: root };
  assert.equal(find('cuda_include', env), path.join(root, 'include'));
  assert.equal(find('cuda', env), '0');
  assert.match(find('summary', env), /incomplete toolkit at .* \(needs bin\/nvcc and libcudart\.so\)/);
});
