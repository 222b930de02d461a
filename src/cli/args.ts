/** Small helpers shared by the CLI subcommands: typed option parsing with usage errors (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import type { EnginePreference } from '../contracts/engine.js';

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

type ParseArgsOptions = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends ParseArgsOptions> = O & { help: { type: 'boolean'; short: 'h' } };
/** What parseCommandArgs returns: node:util parseArgs's strict result for these options (and --help). */
export type ParsedCommand<O extends ParseArgsOptions, P extends boolean> = ReturnType<
  typeof parseArgs<{ args: string[]; options: WithHelp<O>; allowPositionals: P; strict: true }>
>;

/**
 * The one argument parser of the subcommands: node:util parseArgs, strict, with their conventions: a parse
 * error is a usage error carrying the help text, and --help/-h prints the help to stdout and returns
 * undefined (the caller exits 0). `help` ends with a newline.
 */
export function parseCommandArgs<O extends ParseArgsOptions>(argv: string[], help: string, options: O): ParsedCommand<O, false> | undefined;
export function parseCommandArgs<O extends ParseArgsOptions>(
  argv: string[],
  help: string,
  options: O,
  allowPositionals: true,
): ParsedCommand<O, true> | undefined;
export function parseCommandArgs(
  argv: string[],
  help: string,
  options: ParseArgsOptions,
  allowPositionals = false,
): { values: Record<string, unknown>; positionals: string[] } | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw usageError(`${errorMessage(err)}\n${help}`);
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    return undefined;
  }
  return parsed;
}

/** `inspectd NAME: message` for stderr, one trailing newline whether or not the message (help text) has one. */
export function commandErrorText(command: string, err: unknown): string {
  const message = errorMessage(err);
  return `inspectd ${command}: ${message}${message.endsWith('\n') ? '' : '\n'}`;
}
