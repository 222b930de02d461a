#!/usr/bin/env node
/** CLI entry (bin `inspectd`): dispatches to the subcommand table in src/cli/commands.ts. */
import { commands } from './cli/commands.js';
import { EXIT_FAILURE, EXIT_USAGE } from './cli/args.js';
import { errorMessage, isInspectdError, ErrorCodes } from './errors.js';

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return ['usage: inspectd <command> [options]', '', 'commands:', ...lines, '', 'inspectd <command> --help for details'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    process.stderr.write(`inspectd: unknown command '${name}'\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  try {
    return await entry.run(rest);
  } catch (err) {
    process.stderr.write(`inspectd ${name}: ${errorMessage(err)}\n`);
    return isInspectdError(err, ErrorCodes.USAGE) ? EXIT_USAGE : EXIT_FAILURE;
  }
}

process.exitCode = await main(process.argv.slice(2));
