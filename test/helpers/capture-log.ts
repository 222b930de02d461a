/** A logger with the daemon's redaction whose lines are kept, for tests that grep the log. */
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../../src/ops/log.js';

export function captureLogger(level = 'debug'): { logger: Logger; text: () => string; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, { write: (s: string) => void out.push(s) });
  return { logger, text: () => out.join(''), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
