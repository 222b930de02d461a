#!/usr/bin/env node
/** CLI entry (bin `inspectd`): dispatches to the subcommand table in src/cli/commands.ts. */
// First: a stop signal while the rest loads is held for the command, not fatal (src/cli/signals.ts).
import { holdSignals, releaseHeldSignals } from './cli/signals.js';
import { commands } from './cli/commands.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, closestMatch, commandErrorText, parseCommandArgs } from './cli/args.js';
import { errorMessage, isInspectdError, ErrorCodes } from './errors.js';
import { packageVersion } from './util/package.js';

holdSignals();

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return ['usage: inspectd <command> [options]', '       inspectd --version | --help', '', 'commands:', ...lines, '', 'inspectd <command> --help for details'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } finally {
    releaseHeldSignals();
  }
}

async function dispatch(argv: string[]): Promise<number> {
  // Options before the command name are inspectd's own; none takes a value, so the first word is the command.
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const own = at < 0 ? argv : argv.slice(0, at);
  let parsed: ReturnType<typeof parseCommandArgs<{ version: { type: 'boolean'; short: 'V' } }>>;
  try {
    parsed = parseCommandArgs(own, usage() + '\n', { version: { type: 'boolean', short: 'V' } });
  } catch (err) {
    process.stderr.write(`inspectd: ${errorMessage(err)}`);
    return EXIT_USAGE;
  }
  if (!parsed) return EXIT_OK;
  if (parsed.values.version) {
    process.stdout.write(packageVersion() + '\n');
    return EXIT_OK;
  }
  const name = at < 0 ? undefined : argv[at];
  const rest = at < 0 ? [] : argv.slice(at + 1);
  if (name === undefined || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    const guess = closestMatch(name, Object.keys(commands));
    process.stderr.write(`inspectd: unknown command '${name}'${guess ? `; did you mean ${guess}?` : ''}\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  if (!entry.ownsSignals) releaseHeldSignals();
  try {
    return await entry.run(rest);
  } catch (err) {
    process.stderr.write(commandErrorText(name, err));
    return isInspectdError(err, ErrorCodes.USAGE) ? EXIT_USAGE : EXIT_FAILURE;
  }
}

process.exitCode = await main(process.argv.slice(2));
