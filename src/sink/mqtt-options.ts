/** Connect options every inspectd MQTT connection shares (the sink, the Sparkplug edge node): credentials and TLS from the mqtt section. */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { MqttConfig } from '../config/types.js';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { readSecret } from '../util/secrets.js';

/** mqtt.js hands its options to tls.connect, which takes the key's passphrase; its types leave it out. */
export type ClientOptions = IClientOptions & { passphrase?: string };

/**
 * username/password (inline, passwordFile or passwordEnv) and the TLS files with the key's passphrase, read now:
 * a missing file or a key its passphrase does not open is a CREDENTIALS error telling which setting to fix.
 */
export function credentialOptions(cfg: MqttConfig): ClientOptions {
  const options: ClientOptions = {
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
  };
  const password = readSecret({ key: 'mqtt.password', inline: cfg.password, file: cfg.passwordFile, env: cfg.passwordEnv });
  if (password !== undefined) options.password = password;
  const tls = cfg.tls;
  if (tls) {
    const passphrase = readSecret({ key: 'mqtt.tls.passphrase', inline: tls.passphrase, file: tls.passphraseFile, env: tls.passphraseEnv });
    if (passphrase !== undefined) options.passphrase = passphrase;
    try {
      if (tls.ca) options.ca = readFileSync(tls.ca);
      if (tls.cert) options.cert = readFileSync(tls.cert);
      if (tls.key) options.key = readFileSync(tls.key);
    } catch (err) {
      throw new InspectdError(ErrorCodes.CREDENTIALS, `cannot read an MQTT TLS file: ${errorMessage(err)}; check mqtt.tls paths and permissions`, { cause: err });
    }
    if (options.key) checkKey(options.key, passphrase);
    options.rejectUnauthorized = tls.rejectUnauthorized;
  }
  return options;
}

function checkKey(key: unknown, passphrase: string | undefined): void {
  if (!Buffer.isBuffer(key)) return;
  try {
    createPrivateKey({ key, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(key.toString('latin1', 0, 200));
    const hint = encrypted
      ? passphrase === undefined
        ? 'the key is encrypted: set mqtt.tls.passphraseFile (or passphraseEnv, passphrase)'
        : 'the passphrase does not decrypt it: check mqtt.tls.passphrase*'
      : 'check that mqtt.tls.key is a PEM private key';
    throw new InspectdError(ErrorCodes.CREDENTIALS, `cannot load the MQTT TLS client key: ${hint} (${errorMessage(err)})`, { cause: err });
  }
}
