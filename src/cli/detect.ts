/** `inspectd detect`: run the model on image files; JSON lines (--json) or a readable table on stdout, logs on stderr. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { Detector, IMAGE_DECODES_AHEAD } from '../inference/detector.js';
import type { Detection } from '../contracts/vision.js';
import type { PreparedFrame } from '../contracts/detector.js';
import { detectResultJson } from '../vision/result-json.js';
import { EXIT_FAILURE, EXIT_OK, MODEL_OPTIONS, parseCommandArgs, parseModelOptions, usageError } from './args.js';

const HELP = `usage: inspectd detect --model M [--conf C] [--iou I] [--engine auto|tensorrt|cuda|cpu] [--labels F]
                       [--threads N] [--max-det N] [--json] IMAGE...
Prints one result per image: with --json one JSON object per line
  {"image", "width", "height", "detections": [{"classId", "class", "confidence", "box": {"x1","y1","x2","y2"}}]}
with boxes in source-image pixels. Exit 1 if the model or any image could not be processed.
`;

/**
 * The bytes of an image named on the command line; the error names the file once and says what to pass
 * instead (a folder is not expanded: the shell's glob does that).
 */
async function readImage(image: string): Promise<Buffer> {
  try {
    return await readFile(image);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const unreadable = (why: string) => new InspectdError(ErrorCodes.IMAGE_UNREADABLE, why, { cause: err });
    if (code === 'EISDIR') throw unreadable(`${image} is a directory; pass image files (e.g. ${path.join(image, '*.jpg')})`);
    if (code === 'ENOENT') throw unreadable(`${image}: no such file`);
    throw unreadable(`${image}: cannot read: ${errorMessage(err)}`);
  }
}

function table(image: string, width: number, height: number, dets: Detection[], inferenceMs: number): string {
  const lines = [`${image} ${width}x${height}: ${dets.length} detection${dets.length === 1 ? '' : 's'} (inference ${inferenceMs.toFixed(1)} ms)`];
  if (dets.length > 0) {
    const nameW = Math.max(5, ...dets.map((d) => d.class.length));
    lines.push(`  ${'class'.padEnd(nameW)}    id   conf      x1      y1      x2      y2`);
    for (const d of dets) {
      const b = d.box;
      lines.push(
        `  ${d.class.padEnd(nameW)} ${String(d.classId).padStart(5)} ${d.confidence.toFixed(3).padStart(6)} ` +
          [b.x1, b.y1, b.x2, b.y2].map((v) => v.toFixed(1).padStart(7)).join(' '),
      );
    }
  }
  return lines.join('\n');
}

export async function detectCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    argv,
    HELP,
    {
      ...MODEL_OPTIONS,
      json: { type: 'boolean', default: false },
    },
    true,
  );
  if (!parsed) return EXIT_OK;
  const { values: v, positionals: images } = parsed;
  if (v.model === undefined) throw usageError(`--model is required\n${HELP}`);
  if (images.length === 0) throw usageError(`no images given\n${HELP}`);
  const { post, engine, threads } = parseModelOptions(v);
  const logger = createLogger({ fd: 2, level: process.env.INSPECTD_LOG_LEVEL ?? 'warn' });

  let detector: Detector;
  try {
    // One-shot command: no background TensorRT build (it would be killed on exit).
    detector = await Detector.load({ modelPath: v.model, labelsPath: v.labels, engine, strictEngine: engine !== undefined, threads, logger, tensorrtBuild: false });
  } catch (err) {
    process.stderr.write(`inspectd detect: ${errorMessage(err)}\n`);
    return EXIT_FAILURE;
  }
  let failures = 0;
  // The next image is read, decoded and letterboxed while the engine runs this one.
  const prepare = (image: string): Promise<{ prepared?: PreparedFrame; readError?: unknown; decodeError?: unknown }> =>
    readImage(image).then(
      // Bytes, not the path, go to the decoder: its errors would name the path a second time.
      (bytes) =>
        detector.prepareImage(bytes).then(
          (prepared) => ({ prepared }),
          (decodeError: unknown) => ({ decodeError }),
        ),
      (readError: unknown) => ({ readError }),
    );
  // Decodes started ahead, in input order (IMAGE_DECODES_AHEAD).
  const ahead: ReturnType<typeof prepare>[] = [];
  let started = 0;
  const topUp = (): void => {
    while (ahead.length < IMAGE_DECODES_AHEAD && started < images.length) ahead.push(prepare(images[started++]));
  };
  try {
    topUp();
    for (const image of images) {
      const cur = await ahead.shift()!;
      topUp();
      if (cur.readError !== undefined) {
        failures++;
        process.stderr.write(`inspectd detect: ${errorMessage(cur.readError)}\n`);
        continue;
      }
      try {
        if (cur.decodeError !== undefined) throw cur.decodeError;
        const r = await detector.inferPrepared(cur.prepared!, post);
        const { srcWidth: width, srcHeight: height } = cur.prepared!.info;
        const name = path.basename(image);
        if (v.json) {
          process.stdout.write(JSON.stringify(detectResultJson(name, width, height, r.detections)) + '\n');
        } else {
          process.stdout.write(table(name, width, height, r.detections, r.timings.inferenceMs) + '\n');
        }
      } catch (err) {
        failures++;
        process.stderr.write(`inspectd detect: ${image}: ${errorMessage(err)}\n`);
      }
    }
  } finally {
    await detector.dispose();
  }
  return failures > 0 ? EXIT_FAILURE : EXIT_OK;
}
