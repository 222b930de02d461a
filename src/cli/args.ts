/** Small helpers shared by the CLI subcommands: typed option parsing with usage errors (exit 2). */
import { InspectdError, ErrorCodes } from '../errors.js';
import type { EnginePreference } from '../engine/engine.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function usageError(message: string): InspectdError {
  return new InspectdError(ErrorCodes.USAGE, message);
}

export function parseNumber(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw usageError(`--${name} must be a number between ${min} and ${max}, got '${value}'`);
  }
  return n;
}

export function parseInteger(name: string, value: string | undefined, min: number, max: number): number | undefined {
  const n = parseNumber(name, value, min, max);
  if (n !== undefined && !Number.isInteger(n)) throw usageError(`--${name} must be an integer, got '${value}'`);
  return n;
}

const ENGINES: readonly EnginePreference[] = ['auto', 'tensorrt', 'cuda', 'cpu'];

export function parseEngine(value: string | undefined): EnginePreference | undefined {
  if (value === undefined) return undefined;
  if (!(ENGINES as readonly string[]).includes(value)) throw usageError(`--engine must be one of ${ENGINES.join(', ')}, got '${value}'`);
  return value as EnginePreference;
}
