import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { repoPath } from '../helpers/fixtures.js';

const hasValgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status === 0;

test('native addon under valgrind: no definite leaks or memory errors from our code', {
  timeout: 240_000,
  skip: hasValgrind ? false : 'valgrind is not installed (apt-get install valgrind)',
}, () => {
  const r = spawnSync('bash', [repoPath('scripts', 'native-valgrind.sh')], {
    encoding: 'utf8',
    timeout: 230_000,
    env: { ...process.env, INSPECTD_VALGRIND_ITER: '3' },
  });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out.slice(-20_000));
  assert.match(out, /native-valgrind-driver: ok/, 'the driver ran to the end');
  assert.match(out, /definitely lost: 0 bytes in 0 blocks/);
  assert.match(out, /ERROR SUMMARY: 0 errors/);
});
