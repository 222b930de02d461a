/** The shipped unit: systemd-analyze verifies it and scores its exposure at most 2.0 (README "Deploying with systemd"). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { repoPath } from '../helpers/fixtures.js';

const UNIT = repoPath('deploy', 'inspectd.service');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skip = analyze.status === 0 ? false : 'systemd-analyze not installed (Debian package systemd)';

test('deploy/inspectd.service: systemd-analyze verify is clean and the security exposure is at most 2.0', { skip, timeout: 30_000 }, () => {
  const verify = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
  const m = /Overall exposure level for inspectd\.service: (\d+(?:\.\d+)?)/.exec(security.stdout);
  assert.ok(m, security.stdout + security.stderr);
  const score = Number(m[1]);
  assert.ok(score <= 2.0, `exposure ${score} > 2.0`);
  const unit = readFileSync(UNIT, 'utf8').split('\n');
  for (const directive of ['SystemCallFilter=@system-service', 'ProtectProc=invisible', 'RemoveIPC=yes', 'PrivateMounts=yes', 'IPAddressDeny=any']) {
    assert.ok(unit.includes(directive), `${directive} is set`);
  }
});
