/** Small helpers shared by the CLI subcommands: typed option parsing with usage errors (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import type { EnginePreference } from '../contracts/engine.js';
import type { PostprocessOptions } from '../contracts/vision.js';

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

/** The model options `detect` and `batch` share, spread into their parseArgs options. */
export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  conf: { type: 'string' },
  iou: { type: 'string' },
  engine: { type: 'string' },
  labels: { type: 'string' },
  threads: { type: 'string' },
  'max-det': { type: 'string' },
} as const;

/** Postprocess thresholds, engine and thread count from MODEL_OPTIONS' values (unset stays undefined: the model's defaults). */
export function parseModelOptions(v: { conf?: string; iou?: string; 'max-det'?: string; engine?: string; threads?: string }): {
  post: Partial<PostprocessOptions>;
  engine: EnginePreference | undefined;
  threads: number | undefined;
} {
  return {
    post: { conf: parseNumber('conf', v.conf, 0, 1), iou: parseNumber('iou', v.iou, 0, 1), maxDetections: parseInteger('max-det', v['max-det'], 1, 100000) },
    engine: parseEngine(v.engine),
    threads: parseInteger('threads', v.threads, 0, 1024),
  };
}

type ParseArgsOptions = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends ParseArgsOptions> = O & { help: { type: 'boolean'; short: 'h' } };
/** What parseCommandArgs returns: node:util parseArgs's strict result for these options (and --help). */
export type ParsedCommand<O extends ParseArgsOptions, P extends boolean> = ReturnType<
  typeof parseArgs<{ args: string[]; options: WithHelp<O>; allowPositionals: P; strict: true }>
>;

/** Edit distance with adjacent transpositions (optimal string alignment): '--modle' is one edit from '--model'. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known word a mistyped one most likely meant: the closest within a third of its length in edits
 * (at least one), else the only known word it abbreviates; undefined when nothing is close.
 * Used for option names and command names alike.
 */
export function closestMatch(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(w.length / 3)) + 1;
  for (const k of known) {
    const dist = editDistance(w, k.toLowerCase());
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  if (best !== undefined) return best;
  const prefixed = w.length >= 2 ? known.filter((k) => k.toLowerCase().startsWith(w)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/**
 * Checks argv against the options in our words (node's parser messages talk about its own API):
 * unknown options with a "did you mean", options without their value, values given to flags, stray words.
 * Returns true when --help is among them: then nothing else is checked (help wins over a typo next to it).
 */
function checkArgs(argv: string[], options: ParseArgsOptions, allowPositionals: boolean): boolean {
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return true;
  const names = Object.keys(options);
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (!allowPositionals) throw usageError(`unexpected argument '${t.value}': this command takes options only`);
    } else if (t.kind === 'option') {
      const spec = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
      if (!spec) {
        const guess = t.rawName.startsWith('--') ? closestMatch(t.name, names) : undefined;
        throw usageError(`unknown option '${t.rawName}'${guess ? `; did you mean --${guess}?` : ''}`);
      }
      if (spec.type === 'boolean' && t.inlineValue) throw usageError(`${t.rawName} takes no value, got '${t.rawName}=${t.value}'`);
      if (spec.type === 'string') {
        if (t.value === undefined) throw usageError(`${t.rawName} needs a value`);
        // '--model --json': the next option is not a value (write --model=--json if it really is).
        if (!t.inlineValue && t.value.startsWith('-') && t.value.length > 1) {
          throw usageError(`${t.rawName} needs a value, got '${t.value}', which reads as an option (write ${t.rawName}=${t.value} if it is the value)`);
        }
      }
    }
  }
  return false;
}

/**
 * The one argument parser of the subcommands: node:util parseArgs, strict, with their conventions: a parse
 * error is a usage error in our words carrying the help text, and --help/-h prints the help to stdout and
 * returns undefined (the caller exits 0). `help` ends with a newline.
 */
export function parseCommandArgs<O extends ParseArgsOptions>(argv: string[], help: string, options: O): ParsedCommand<O, false> | undefined;
export function parseCommandArgs<O extends ParseArgsOptions>(argv: string[], help: string, options: O, allowPositionals: true): ParsedCommand<O, true> | undefined;
export function parseCommandArgs(
  argv: string[],
  help: string,
  options: ParseArgsOptions,
  allowPositionals = false,
): { values: Record<string, unknown>; positionals: string[] } | undefined {
  const all: ParseArgsOptions = { ...options, help: { type: 'boolean', short: 'h' } };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    if (checkArgs(argv, all, allowPositionals)) {
      process.stdout.write(help);
      return undefined;
    }
    parsed = parseArgs({ args: argv, allowPositionals, strict: true, options: all });
  } catch (err) {
    throw usageError(`${errorMessage(err)}\n${help}`);
  }
  return parsed;
}

/** `inspectd NAME: message` for stderr, one trailing newline whether or not the message (help text) has one. */
export function commandErrorText(command: string, err: unknown): string {
  const message = errorMessage(err);
  return `inspectd ${command}: ${message}${message.endsWith('\n') ? '' : '\n'}`;
}
