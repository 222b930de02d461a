/** `inspectd check-config FILE`: validates a config without running anything. Exit 0 valid, 1 invalid, 2 usage. */
import { readFile } from 'node:fs/promises';
import { errorMessage, isInspectdError } from '../errors.js';
import { ConfigInvalidError, formatProblems, loadConfigFile } from '../config/load.js';
import { assertRulesMatchModel } from '../config/model-classes.js';
import { buildModelMetadata, loadLabelsFile } from '../vision/model-metadata.js';
import { parseOnnxMetadata } from '../vision/onnx-metadata.js';
import { EXIT_OK, EXIT_USAGE, commandErrorText, parseCommandArgs, type ParsedCommand } from './args.js';

const HELP = 'usage: inspectd check-config FILE...\n  validates each config file; exit 0 when all are valid\n';

export async function checkConfigCommand(argv: string[]): Promise<number> {
  let parsed: ParsedCommand<Record<never, never>, true> | undefined;
  try {
    parsed = parseCommandArgs(argv, HELP, {}, true);
  } catch (err) {
    process.stderr.write(commandErrorText('check-config', err));
    return EXIT_USAGE;
  }
  if (!parsed) return EXIT_OK;
  const files = parsed.positionals;
  if (files.length === 0) {
    process.stderr.write(HELP);
    return EXIT_USAGE;
  }
  let rc = 0;
  for (const file of files) {
    try {
      const loaded = await loadConfigFile(file);
      const classes = await modelClassNames(loaded.config.model.path, loaded.config.model.labels);
      if (classes) assertRulesMatchModel(loaded, classes);
      process.stdout.write(`${file}: ok (hash ${loaded.hash})\n`);
      for (const warning of loaded.warnings) process.stderr.write(`${file}: warning: ${warning}\n`);
      if (!classes) process.stderr.write(`${file}: note: class names in rules not checked (model ${loaded.config.model.path} unreadable or without class names)\n`);
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

/** The model's class names from its ONNX metadata (or labels file), without loading an engine; null when unknown. */
async function modelClassNames(modelPath: string, labelsPath: string | undefined): Promise<string[] | null> {
  try {
    const raw = parseOnnxMetadata(await readFile(modelPath));
    const labels = labelsPath !== undefined ? await loadLabelsFile(labelsPath) : undefined;
    const names = buildModelMetadata(raw, { labels }).names;
    return names.length > 0 ? names : null;
  } catch {
    return null;
  }
}
