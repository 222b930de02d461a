/** MQTT secrets from a file or the environment: one source only, where a relative file is looked up, the readable-config warning. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigInvalidError, loadConfigFile, parseConfigText, secretPath } from '../../src/config/load.js';
import { readSecret } from '../../src/util/secrets.js';

const MIN = `model:
  path: m.onnx
cameras:
  - id: cam1
    source: {type: synthetic}
`;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function problems(text: string): string[] {
  try {
    parseConfigText(text, '/etc/inspectd/config.yaml', '/etc/inspectd');
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, String(err));
    return err.problems.map((p) => `${p.line}:${p.path}: ${p.message}`);
  }
  assert.fail('config was accepted');
}

test('a password or passphrase from two sources is a config error naming both keys', () => {
  const pw = problems(`${MIN}mqtt:\n  url: mqtt://b:1883\n  password: inline\n  passwordFile: pw\n`);
  assert.equal(pw.length, 1);
  assert.match(pw[0], /^9:mqtt\.passwordFile: set only one of password, passwordFile: the password comes from exactly one source$/);
  const pp = problems(`${MIN}mqtt:\n  url: mqtts://b:8883\n  tls:\n    passphraseFile: pp\n    passphraseEnv: PP\n`);
  assert.match(pp.join('\n'), /mqtt\.tls\.passphraseEnv: set only one of passphraseFile, passphraseEnv/);
  assert.match(problems(`${MIN}mqtt:\n  passwordEnv: 'not a name'\n`).join('\n'), /mqtt\.passwordEnv/);
});

test('a relative secret file is looked up in $CREDENTIALS_DIRECTORY when set, else beside the config; the hash does not depend on it', () => {
  assert.equal(secretPath('mqtt-password', '/etc/inspectd', { CREDENTIALS_DIRECTORY: '/run/credentials/inspectd.service' }), '/run/credentials/inspectd.service/mqtt-password');
  assert.equal(secretPath('mqtt-password', '/etc/inspectd', {}), '/etc/inspectd/mqtt-password');
  assert.equal(secretPath('/srv/pw', '/etc/inspectd', { CREDENTIALS_DIRECTORY: '/run/c' }), '/srv/pw');
  const text = `${MIN}mqtt:\n  passwordFile: mqtt-password\n  tls:\n    passphraseFile: key-pass\n`;
  const saved = process.env.CREDENTIALS_DIRECTORY;
  try {
    process.env.CREDENTIALS_DIRECTORY = '/run/credentials/inspectd.service';
    const inUnit = parseConfigText(text, '/etc/inspectd/config.yaml', '/etc/inspectd');
    assert.equal(inUnit.config.mqtt.passwordFile, '/run/credentials/inspectd.service/mqtt-password');
    assert.equal(inUnit.config.mqtt.tls?.passphraseFile, '/run/credentials/inspectd.service/key-pass');
    delete process.env.CREDENTIALS_DIRECTORY;
    const outside = parseConfigText(text, '/etc/inspectd/config.yaml', '/etc/inspectd');
    assert.equal(outside.config.mqtt.passwordFile, '/etc/inspectd/mqtt-password');
    assert.equal(outside.hash, inUnit.hash, 'check-config (no credentials folder) and the service agree on the hash');
  } finally {
    if (saved === undefined) delete process.env.CREDENTIALS_DIRECTORY;
    else process.env.CREDENTIALS_DIRECTORY = saved;
  }
});

test('readSecret: first line of a file, an environment variable, and errors that name the key but never the value', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'pw');
  writeFileSync(file, 'hunter2-from-file\nignored\n');
  assert.equal(readSecret({ key: 'mqtt.password', file }), 'hunter2-from-file');
  assert.equal(readSecret({ key: 'mqtt.password', env: 'PW' }, { PW: 'from-env' }), 'from-env');
  assert.equal(readSecret({ key: 'mqtt.password', inline: 'x' }), 'x');
  assert.equal(readSecret({ key: 'mqtt.password' }), undefined);
  assert.throws(() => readSecret({ key: 'mqtt.password', file: path.join(dir, 'missing') }), {
    code: 'INSPECTD_ERR_CREDENTIALS',
    message: /cannot read mqtt\.passwordFile .*missing: ENOENT/,
  });
  assert.throws(() => readSecret({ key: 'mqtt.password', env: 'PW' }, {}), { code: 'INSPECTD_ERR_CREDENTIALS', message: /mqtt\.passwordEnv names PW, which is not set/ });
  writeFileSync(file, '\nhunter2\n');
  assert.throws(
    () => readSecret({ key: 'mqtt.tls.passphrase', file }),
    (err: Error) => /passphraseFile .* is empty/.test(err.message) && !err.message.includes('hunter2'),
  );
});

test('an inline password in a config file readable by group or others is warned about; mode 600 or a passwordFile is not', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'config.yaml');
  // device.id set: on a box whose host name is an image default, its warning would be counted too
  writeFileSync(file, `device:\n  id: secrets-test\n${MIN}mqtt:\n  username: edge\n  password: s3cret-inline\n`);
  chmodSync(file, 0o644);
  const open = await loadConfigFile(file);
  assert.equal(open.warnings.length, 1);
  assert.match(open.warnings[0], new RegExp(`config file ${file} holds mqtt\\.password and is readable by group or others \\(mode 644\\): run chmod 600`));
  assert.match(open.warnings[0], /mqtt\.passwordFile/);
  assert.ok(!open.warnings[0].includes('s3cret-inline'));
  chmodSync(file, 0o640);
  assert.equal((await loadConfigFile(file)).warnings.length, 1, 'group-readable counts');
  chmodSync(file, 0o600);
  assert.deepEqual((await loadConfigFile(file)).warnings, []);
  writeFileSync(file, `${MIN}mqtt:\n  username: edge\n  passwordFile: pw\n`);
  chmodSync(file, 0o644);
  assert.deepEqual((await loadConfigFile(file)).warnings, []);
});
