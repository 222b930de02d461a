/** Throwaway PKI for TLS tests, made with the openssl CLI in a temp folder. */
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function opensslSkip(): false | string {
  return spawnSync('openssl', ['version']).status === 0 ? false : 'openssl not installed';
}

function openssl(dir: string, ...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/**
 * Signs `<base>.csr` with the CA `<caName>-ca.*` into `<base>.crt` (2 days), with the extensions `ext`
 * (written to `<base>.ext`): the one signing step every certificate here takes.
 */
function signWithCa(dir: string, caName: string, base: string, ext: string): void {
  writeFileSync(path.join(dir, `${base}.ext`), ext);
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    `${caName}-ca.crt`,
    '-CAkey',
    `${caName}-ca.key`,
    '-CAcreateserial',
    '-out',
    `${base}.crt`,
    '-days',
    '2',
    '-extfile',
    `${base}.ext`,
  );
}

export interface Pki {
  ca: string;
  server: { cert: string; key: string };
  /** Client certificate signed by the same CA; its key is encrypted with `passphrase`. */
  client: { cert: string; key: string; passphrase: string };
}

/** A CA named `name` in dir/<name>-*, a server certificate for 127.0.0.1/localhost, a client certificate. */
export function makePki(dir: string, name: string, passphrase = 'key-pass-word'): Pki {
  const f = (s: string): string => `${name}-${s}`;
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', `/CN=inspectd test CA ${name}`);
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  signWithCa(dir, name, f('server'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(dir, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-aes-256-cbc', '-pass', `pass:${passphrase}`, '-out', f('client.key'));
  openssl(dir, 'req', '-new', '-key', f('client.key'), '-passin', `pass:${passphrase}`, '-out', f('client.csr'), '-subj', '/CN=inspectd-edge');
  signWithCa(dir, name, f('client'), 'extendedKeyUsage=clientAuth\n');
  // mosquitto may drop privileges before reading them
  for (const file of readdirSync(dir)) chmodSync(path.join(dir, file), 0o644);
  const p = (s: string): string => path.join(dir, f(s));
  return { ca: p('ca.crt'), server: { cert: p('server.crt'), key: p('server.key') }, client: { cert: p('client.crt'), key: p('client.key'), passphrase } };
}

/** Another client certificate from the CA of makePki(dir, name): CN `cn` (the user name with use_identity_as_username), key not encrypted. */
export function makeClientCert(dir: string, name: string, cn: string): { cert: string; key: string } {
  const f = (s: string): string => `${name}-${cn}-${s}`;
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', `/CN=${cn}`);
  signWithCa(dir, name, f('client'), 'extendedKeyUsage=clientAuth\n');
  for (const file of [f('client.key'), f('client.crt')]) chmodSync(path.join(dir, file), 0o644);
  return { cert: path.join(dir, f('client.crt')), key: path.join(dir, f('client.key')) };
}
