/**
 * Secrets (MQTT password, TLS key passphrase) read from where the config points: inline, a file, or an
 * environment variable. Read when a connection is prepared (start, reload), so a rotated file is taken up by
 * the next reload; the value itself never appears in an error message.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';

export interface SecretSource {
  /** The config key of the inline value (`mqtt.password`): named in messages. */
  key: string;
  inline?: string;
  file?: string;
  env?: string;
}

/** The secret, or undefined when no source is set. Throws INSPECTD_ERR_CREDENTIALS when the file or variable cannot give it. */
export function readSecret(src: SecretSource, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (src.inline !== undefined) return src.inline;
  if (src.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new InspectdError(
        ErrorCodes.CREDENTIALS,
        `cannot read ${src.key}File ${src.file}: ${errorMessage(err)}; check the path (or LoadCredential=) and that the inspectd user may read it`,
        {
          cause: err,
        },
      );
    }
    // The first line: `echo secret > file` leaves a newline that is no part of the secret.
    const first = text.split(/\r?\n/, 1)[0];
    if (first.length === 0) throw new InspectdError(ErrorCodes.CREDENTIALS, `${src.key}File ${src.file} is empty: its first line must hold the ${src.key.split('.').pop()}`);
    return first;
  }
  if (src.env !== undefined) {
    const value = env[src.env];
    if (value === undefined || value === '')
      throw new InspectdError(ErrorCodes.CREDENTIALS, `${src.key}Env names ${src.env}, which is not set (or empty) in inspectd's environment`);
    return value;
  }
  return undefined;
}
