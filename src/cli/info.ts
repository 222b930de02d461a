/** `inspectd info`: what inspectd makes of a model (layout, input size, classes, engine and why others were refused). */
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { Detector } from '../inference/detector.js';
import { EXIT_FAILURE, EXIT_OK, parseEngine, parseInteger, parseCommandArgs, usageError } from './args.js';

/** The text output lists this many classes unless --all (80 COCO names do not fit a line). */
export const CLASSES_SHOWN = 20;

const HELP = `usage: inspectd info --model M [--labels F] [--engine auto|tensorrt|cuda|cpu] [--threads N] [--all] [--json]
Prints the model's layout, input size, classes and the engine chosen (and why others were refused).
The text lists the first ${CLASSES_SHOWN} classes; --all lists every one, --json prints everything as one JSON object.
`;

/** The `classes` line: id:name for each class, cut after CLASSES_SHOWN unless `all`, saying what was cut. */
export function formatClasses(names: readonly string[], all: boolean): string {
  const shown = all ? names : names.slice(0, CLASSES_SHOWN);
  const list = shown.map((n, i) => `${i}:${n}`).join(', ');
  const cut = names.length - shown.length;
  return `${names.length}: ${list}${cut > 0 ? `, … and ${cut} more (--all or --json lists every class)` : ''}`;
}

export async function infoCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, HELP, {
    model: { type: 'string', short: 'm' },
    labels: { type: 'string' },
    engine: { type: 'string' },
    threads: { type: 'string' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (!parsed) return EXIT_OK;
  const v = parsed.values;
  if (v.model === undefined) throw usageError(`--model is required\n${HELP}`);
  const logger = createLogger({ fd: 2, level: process.env.INSPECTD_LOG_LEVEL ?? 'warn' });
  let d: Detector;
  try {
    d = await Detector.load({
      modelPath: v.model,
      labelsPath: v.labels,
      engine: parseEngine(v.engine),
      strictEngine: v.engine !== undefined,
      threads: parseInteger('threads', v.threads, 0, 1024),
      logger,
      tensorrtBuild: false, // one-shot command: a background build would be killed on exit
    });
  } catch (err) {
    process.stderr.write(`inspectd info: ${errorMessage(err)}\n`);
    return EXIT_FAILURE;
  }
  try {
    const m = d.metadata;
    const info = {
      model: path.basename(v.model),
      sha256: d.modelSha256,
      layout: d.layout,
      input: d.inputSize,
      stride: m.stride ?? null,
      task: m.task ?? null,
      end2end: m.end2end ?? null,
      numClasses: m.names.length,
      classes: m.names,
      engine: d.engineKind,
      refusals: d.refusals,
    };
    if (v.json) {
      process.stdout.write(JSON.stringify(info) + '\n');
    } else {
      process.stdout.write(
        [
          `model     ${info.model}`,
          `sha256    ${info.sha256}`,
          `layout    ${info.layout}${info.end2end ? ' (end-to-end, no NMS)' : ''}`,
          `input     ${d.inputSize.width}x${d.inputSize.height}${info.stride ? `, stride ${info.stride}` : ''}`,
          `classes   ${formatClasses(m.names, v.all)}`,
          `engine    ${d.engineKind}`,
          ...d.refusals.map((r) => `  refused ${r.kind}: ${r.reason}`),
        ].join('\n') + '\n',
      );
    }
  } finally {
    await d.dispose();
  }
  return EXIT_OK;
}
