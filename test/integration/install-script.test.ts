/**
 * deploy/install.sh, staged: --prefix DIR --no-npm --no-enable installs the whole tree under DIR without
 * root or systemd. The installed command, config and LICENSE are checked there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoPath } from '../helpers/fixtures.js';
import { packageVersion } from '../../src/util/package.js';
import { loadConfigFile } from '../../src/config/load.js';
import { DEMO_MODEL_RELPATH } from '../../src/config/defaults.js';

const INSTALL = repoPath('deploy', 'install.sh');

function sh(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

test('install.sh --help prints the usage and no shell code', { timeout: 10_000 }, async () => {
  const r = await sh('bash', [INSTALL, '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--prefix DIR/);
  assert.match(r.stdout, /--no-enable/);
  for (const line of r.stdout.split('\n')) {
    assert.doesNotMatch(line, /^\s*(set -|[A-Z_]+=|usage\(\)|while |case |if \[|fi$|done$)/, `shell code in --help: ${line}`);
  }
  assert.ok(!r.stdout.includes('pipefail'));
});

test('install.sh staged under --prefix: inspectd command, demo config, LICENSE; a rerun keeps the config', { timeout: 120_000 }, async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'inspectd-install-'));
  t.after(() => rm(root, { recursive: true, force: true }));

  const dry = await sh('bash', [INSTALL, '--dry-run', '--prefix', root, '--no-npm', '--no-enable']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^\\+ install command ${root}/usr/local/bin/inspectd`, 'm'));
  assert.deepEqual(await readdir(root), [], '--dry-run changes nothing');

  const r = await sh('bash', [INSTALL, '--prefix', root, '--no-npm', '--no-enable']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /First run: \/etc\/inspectd\/config\.yaml runs the demo, no camera needed/);

  // The command: on PATH's /usr/local/bin under the prefix, executable, runs the installed package in place,
  // also through a symlink from elsewhere.
  const bin = path.join(root, 'usr', 'local', 'bin', 'inspectd');
  assert.ok(statSync(bin).mode & 0o111, 'inspectd is executable');
  const version = await sh(bin, ['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, `${packageVersion()}\n`);
  await mkdir(path.join(root, 'elsewhere'));
  await symlink(bin, path.join(root, 'elsewhere', 'inspectd'));
  assert.equal((await sh(path.join(root, 'elsewhere', 'inspectd'), ['--version'])).stdout, `${packageVersion()}\n`);
  assert.ok(!existsSync(path.join(root, 'opt', 'inspectd', 'dist', 'test')), 'tests are not installed');

  // The config: the demo one, and valid as installed (node_modules stands in for the npm ci --no-npm skipped).
  const conf = path.join(root, 'etc', 'inspectd', 'config.yaml');
  assert.equal(await readFile(conf, 'utf8'), await readFile(repoPath('deploy', 'config.default.yaml'), 'utf8'));
  await symlink(repoPath('node_modules'), path.join(root, 'opt', 'inspectd', 'node_modules'));
  const check = await sh(bin, ['check-config', conf]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /: ok \(hash [0-9a-f]{64}\)\n$/);

  // LICENSE: the Apache-2.0 text package.json names, shipped with the package.
  const license = await readFile(path.join(root, 'opt', 'inspectd', 'LICENSE'), 'utf8');
  assert.equal(license, await readFile(repoPath('LICENSE'), 'utf8'));
  assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004/);
  assert.match(license, /END OF TERMS AND CONDITIONS/);
  assert.equal(JSON.parse(await readFile(repoPath('package.json'), 'utf8')).license, 'Apache-2.0');

  // Rerun (upgrade): an operator's config stays; a command install.sh did not write is left alone.
  await writeFile(conf, '# edited by the operator\n');
  const again = await sh('bash', [INSTALL, '--prefix', root, '--no-npm', '--no-enable']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /keeping existing .*config\.yaml/);
  assert.match(again.stdout, /Upgraded; \/etc\/inspectd\/config\.yaml is unchanged/);
  assert.equal(await readFile(conf, 'utf8'), '# edited by the operator\n');
  await rm(bin);
  await writeFile(bin, '#!/bin/sh\necho mine\n');
  const foreign = await sh('bash', [INSTALL, '--prefix', root, '--no-npm', '--no-enable']);
  assert.equal(foreign.code, 0, foreign.stderr);
  assert.match(foreign.stdout, /keeping .*usr\/local\/bin\/inspectd: install\.sh did not write it/);
  assert.equal(await readFile(bin, 'utf8'), '#!/bin/sh\necho mine\n');
});

test('deploy/config.default.yaml: the demo line on the bundled model; the commented camera examples are valid too', { timeout: 10_000 }, async (t) => {
  const file = repoPath('deploy', 'config.default.yaml');
  const loaded = await loadConfigFile(file);
  assert.equal(loaded.config.model.path, path.join('/opt/inspectd', DEMO_MODEL_RELPATH));
  assert.ok(existsSync(repoPath(DEMO_MODEL_RELPATH)), 'the package ships the model the config names');
  assert.deepEqual(
    loaded.config.cameras.map((c) => c.source.type),
    ['synthetic'],
  );
  assert.equal(loaded.config.mqtt.url, undefined, 'embedded broker: nothing to set up');

  // Uncomment the examples below `cameras:` (lines like "  # - id: ..." and their indented keys).
  const text = await readFile(file, 'utf8');
  const at = text.indexOf('\ncameras:');
  const examples = text.slice(0, at) + text.slice(at).replace(/^(\s*)# (?=- id:| +\S|mqtt:)/gm, '$1');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-config-default-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'config.yaml'), examples);
  const all = await loadConfigFile(path.join(dir, 'config.yaml'));
  assert.deepEqual(
    all.config.cameras.map((c) => c.source.type),
    ['synthetic', 'ffmpeg', 'ffmpeg', 'folder'],
  );
  assert.match(all.config.mqtt.url ?? '', /^mqtt:\/\//);
});
