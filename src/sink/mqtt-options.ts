/** Connect options every inspectd MQTT connection shares (the sink, the Sparkplug edge node): credentials and TLS from the mqtt section. */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { MqttConfig } from '../config/types.js';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';

/** username/password and the TLS files, read now (a missing file is an MQTT error telling which setting to fix). */
export function credentialOptions(cfg: MqttConfig): IClientOptions {
  const options: IClientOptions = {
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
  };
  const tls = cfg.tls;
  if (tls) {
    try {
      if (tls.ca) options.ca = readFileSync(tls.ca);
      if (tls.cert) options.cert = readFileSync(tls.cert);
      if (tls.key) options.key = readFileSync(tls.key);
    } catch (err) {
      throw new InspectdError(ErrorCodes.MQTT, `cannot read an MQTT TLS file: ${errorMessage(err)}; check mqtt.tls paths and permissions`, { cause: err });
    }
    options.rejectUnauthorized = tls.rejectUnauthorized;
  }
  return options;
}
