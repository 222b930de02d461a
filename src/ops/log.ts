import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'mqtt.password',
  'passphrase',
  '*.passphrase',
  '*.*.passphrase',
  'mqtt.tls.passphrase',
  'mqtt.tls.key',
  '*.key',
  'token',
  '*.token',
];

export interface LogOptions {
  level?: string;
  /** Write to this fd (1 = stdout, 2 = stderr). CLI commands that print JSON results log to stderr. */
  fd?: number;
  name?: string;
}

export function createLogger(options: LogOptions = {}): Logger {
  const opts: LoggerOptions = {
    name: options.name ?? 'inspectd',
    level: options.level ?? process.env.INSPECTD_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return pino(opts, pino.destination({ fd: options.fd ?? 1, sync: true }));
}

/** A logger that drops everything: for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
