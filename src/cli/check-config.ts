/** `inspectd check-config FILE`: validates a config without running anything. Exit 0 valid, 1 invalid, 2 usage. */
import { errorMessage, isInspectdError } from '../errors.js';
import { ConfigInvalidError, formatProblems, loadConfigFile } from '../config/load.js';

export async function checkConfigCommand(argv: string[]): Promise<number> {
  const files = argv.filter((a) => !a.startsWith('-'));
  if (argv.includes('-h') || argv.includes('--help') || files.length === 0) {
    process.stderr.write('usage: inspectd check-config FILE...\n  validates each config file; exit 0 when all are valid\n');
    return files.length === 0 && !argv.includes('-h') && !argv.includes('--help') ? 2 : 0;
  }
  let rc = 0;
  for (const file of files) {
    try {
      const loaded = await loadConfigFile(file);
      process.stdout.write(`${file}: ok (hash ${loaded.hash})\n`);
    } catch (err) {
      rc = 1;
      if (err instanceof ConfigInvalidError) {
        process.stderr.write(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
        for (const line of formatProblems(err.problems)) process.stderr.write(line + '\n');
      } else {
        process.stderr.write(`${file}: ${isInspectdError(err) ? err.message : errorMessage(err)}\n`);
      }
    }
  }
  return rc;
}
