/**
 * `inspectd eval --model M --data DIR [--split val] [--conf 0.001] [--iou 0.7] [--max-det 300]
 *                [--engine E] [--threads N] [--labels FILE] [--json]`
 * Runs the model over a YOLO-format labelled folder and prints precision, recall and mAP50.
 * DIR is either an Ultralytics layout (images/<split>/ + labels/<split>/) or a flat folder with the
 * .txt labels beside the images. An image without a label file counts as background (no objects).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { InspectdError, ErrorCodes, errorMessage } from '../errors.js';
import { evaluateDetections, parseYoloLabels, type EvalMetrics, type GroundTruth, type ImageResult } from '../eval/metrics.js';
import type { Detection, StageTimings } from '../contracts/vision.js';
import type { EnginePreference } from '../contracts/engine.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, commandErrorText, parseCommandArgs, parseEngine, parseInteger, parseNumber, usageError } from './args.js';

/** The slice of src/inference/detector.ts's Detector that eval uses (kept thin on purpose). */
export interface EvalDetector {
  readonly metadata: { names: string[] };
  detectImage(
    input: Buffer | string,
    post?: { conf?: number; iou?: number; maxDetections?: number },
  ): Promise<{ width: number; height: number; detections: Detection[]; timings: StageTimings }>;
  dispose(): Promise<void> | void;
}

export interface DetectorLoadOptions {
  modelPath: string;
  labelsPath?: string;
  engine?: EnginePreference;
  threads?: number;
}

export type DetectorLoader = (opts: DetectorLoadOptions) => Promise<EvalDetector>;

/**
 * Loads the project's Detector lazily (onnxruntime is only loaded when eval really runs a model);
 * the typed assignment keeps this in step with Detector's real signature.
 */
export const loadProjectDetector: DetectorLoader = async (opts) => {
  const { Detector } = await import('../inference/detector.js');
  const det: EvalDetector = await Detector.load({
    modelPath: opts.modelPath,
    labelsPath: opts.labelsPath,
    engine: opts.engine,
    strictEngine: opts.engine !== undefined,
    threads: opts.threads,
  });
  return det;
};

export interface EvalOptions {
  modelPath: string;
  dataDir: string;
  split: string;
  conf: number;
  iou: number;
  maxDetections: number;
  engine?: EnginePreference;
  threads?: number;
  labelsPath?: string;
}

export interface EvalReport extends EvalMetrics {
  model: string;
  data: string;
  split: string;
  /** Median milliseconds per image and stage. */
  speed: StageTimings;
  /** Images whose label file could not be parsed (they are skipped). */
  badLabels: string[];
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff']);

export interface LabelledImage {
  image: string;
  /** Label file path (may not exist: background image). */
  label: string;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Lists images and their label paths for a split, in a stable (sorted) order. */
export async function listLabelledImages(dataDir: string, split: string): Promise<LabelledImage[]> {
  const root = path.resolve(dataDir);
  if (!(await isDir(root))) {
    throw new InspectdError(
      ErrorCodes.DATASET,
      `dataset folder ${root} not found: pass --data DIR with images/<split>/ and labels/<split>/, or images with .txt labels beside them`,
    );
  }
  let imageDir = path.join(root, 'images', split);
  let labelDir = path.join(root, 'labels', split);
  if (!(await isDir(imageDir))) {
    imageDir = root; // flat folder
    labelDir = root;
  }
  const names = (await readdir(imageDir)).filter((n) => IMAGE_EXT.has(path.extname(n).toLowerCase())).sort();
  if (names.length === 0) {
    throw new InspectdError(ErrorCodes.DATASET, `no images in ${imageDir} (looked for ${[...IMAGE_EXT].join(' ')}); check --data and --split`);
  }
  return names.map((n) => ({
    image: path.join(imageDir, n),
    label: path.join(labelDir, n.slice(0, n.length - path.extname(n).length) + '.txt'),
  }));
}

/**
 * The dataset's own class list (Ultralytics data.yaml `names:`, else classes.txt), when it has one: it must
 * be the model's, in the same order, or every per-class figure would be about the wrong class.
 */
export async function datasetClassNames(dataDir: string): Promise<{ file: string; names: string[] } | null> {
  const root = path.resolve(dataDir);
  const yamlFile = path.join(root, 'data.yaml');
  const text = await readFile(yamlFile, 'utf8').catch(() => null);
  if (text !== null) {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new InspectdError(ErrorCodes.DATASET, `${yamlFile} is not valid YAML: ${errorMessage(err)}`);
    }
    const names = (doc as { names?: unknown } | null)?.names;
    if (Array.isArray(names)) return { file: yamlFile, names: names.map(String) };
    if (names && typeof names === 'object') {
      const byId = Object.entries(names as Record<string, unknown>).sort(([a], [b]) => Number(a) - Number(b));
      return { file: yamlFile, names: byId.map(([, v]) => String(v)) };
    }
  }
  const classesFile = path.join(root, 'classes.txt');
  const list = await readFile(classesFile, 'utf8').catch(() => null);
  if (list !== null)
    return {
      file: classesFile,
      names: list
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean),
    };
  return null;
}

async function checkDatasetClasses(dataDir: string, modelNames: readonly string[], modelPath: string): Promise<void> {
  const ds = await datasetClassNames(dataDir);
  if (!ds) return;
  const same = ds.names.length === modelNames.length && ds.names.every((n, i) => n === modelNames[i]);
  if (same) return;
  const show = (names: readonly string[]) => (names.length > 8 ? `${names.slice(0, 8).join(', ')}, … (${names.length})` : names.join(', '));
  throw new InspectdError(
    ErrorCodes.DATASET,
    `the dataset's classes (${ds.file}: ${show(ds.names)}) are not the model's (${path.basename(modelPath)}: ${show(modelNames)}): ` +
      "evaluate the model trained on this dataset, or pass --labels with the dataset's names if the model lacks them",
  );
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function runEval(opts: EvalOptions, loader: DetectorLoader = loadProjectDetector): Promise<EvalReport> {
  const items = await listLabelledImages(opts.dataDir, opts.split);
  const detector = await loader({
    modelPath: opts.modelPath,
    labelsPath: opts.labelsPath,
    engine: opts.engine,
    threads: opts.threads,
  });
  try {
    await checkDatasetClasses(opts.dataDir, detector.metadata.names, opts.modelPath);
  } catch (err) {
    await detector.dispose();
    throw err;
  }
  const numClasses = detector.metadata.names.length;
  const results: ImageResult[] = [];
  const badLabels: string[] = [];
  const pre: number[] = [];
  const inf: number[] = [];
  const post: number[] = [];
  try {
    for (const it of items) {
      const res = await detector.detectImage(it.image, { conf: opts.conf, iou: opts.iou, maxDetections: opts.maxDetections });
      let text = '';
      try {
        text = await readFile(it.label, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      let groundTruth: GroundTruth[];
      try {
        groundTruth = parseYoloLabels(text, res.width, res.height, numClasses);
      } catch (err) {
        badLabels.push(`${it.label}: ${errorMessage(err)}`);
        continue;
      }
      results.push({
        groundTruth,
        predictions: res.detections.map((d) => ({ classId: d.classId, confidence: d.confidence, box: d.box })),
      });
      pre.push(res.timings.preprocessMs);
      inf.push(res.timings.inferenceMs);
      post.push(res.timings.postprocessMs);
    }
  } finally {
    await detector.dispose();
  }
  const metrics = evaluateDetections(results, detector.metadata.names, 0.5);
  return {
    model: opts.modelPath,
    data: opts.dataDir,
    split: opts.split,
    ...metrics,
    speed: { preprocessMs: median(pre), inferenceMs: median(inf), postprocessMs: median(post) },
    badLabels,
  };
}

export function formatReport(r: EvalReport): string {
  const f = (x: number): string => x.toFixed(3);
  const w = Math.max(5, ...r.perClass.map((c) => c.name.length));
  const lines = [
    `model ${r.model}`,
    `data  ${r.data} (split ${r.split}): ${r.images} images, ${r.instances} instances`,
    `${'class'.padEnd(w)}  instances      P      R  mAP50`,
    `${'all'.padEnd(w)}  ${String(r.instances).padStart(9)}  ${f(r.precision)}  ${f(r.recall)}  ${f(r.mAP50)}`,
    ...r.perClass.map((c) => `${c.name.padEnd(w)}  ${String(c.instances).padStart(9)}  ${f(c.precision)}  ${f(c.recall)}  ${f(c.ap50)}`),
    `P/R at confidence ${r.f1Confidence.toFixed(3)} (best mean F1); AP: all-point interpolation at IoU 0.5`,
    `speed (median per image): preprocess ${r.speed.preprocessMs.toFixed(1)} ms, inference ${r.speed.inferenceMs.toFixed(1)} ms, postprocess ${r.speed.postprocessMs.toFixed(1)} ms`,
  ];
  for (const b of r.badLabels) lines.push(`skipped (bad label file): ${b}`);
  return lines.join('\n') + '\n';
}

const HELP = 'usage: inspectd eval --model M --data DIR [--split val] [--conf 0.001] [--iou 0.7] [--max-det 300] [--engine E] [--threads N] [--labels FILE] [--json]\n';

function parseEvalArgs(argv: string[]): { opts: EvalOptions; json: boolean } | undefined {
  const parsed = parseCommandArgs(argv, HELP, {
    model: { type: 'string', short: 'm' },
    data: { type: 'string', short: 'd' },
    split: { type: 'string' },
    conf: { type: 'string' },
    iou: { type: 'string' },
    'max-det': { type: 'string' },
    engine: { type: 'string' },
    threads: { type: 'string' },
    labels: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!parsed) return undefined;
  const v = parsed.values;
  if (!v.model || !v.data) throw usageError(`--model and --data are required\n${HELP}`);
  return {
    json: v.json ?? false,
    opts: {
      modelPath: v.model,
      dataDir: v.data,
      split: v.split ?? 'val',
      conf: parseNumber('conf', v.conf, 0, 1) ?? 0.001,
      iou: parseNumber('iou', v.iou, 0, 1) ?? 0.7,
      maxDetections: parseInteger('max-det', v['max-det'], 1, 100000) ?? 300,
      engine: parseEngine(v.engine),
      threads: parseInteger('threads', v.threads, 0, 1024),
      labelsPath: v.labels,
    },
  };
}

/** CLI entry; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function evalCommand(argv: string[], loader: DetectorLoader = loadProjectDetector): Promise<number> {
  let args: ReturnType<typeof parseEvalArgs>;
  try {
    args = parseEvalArgs(argv);
  } catch (err) {
    process.stderr.write(commandErrorText('eval', err));
    return EXIT_USAGE;
  }
  if (!args) return EXIT_OK;
  try {
    const report = await runEval(args.opts, loader);
    process.stdout.write(args.json ? JSON.stringify(report) + '\n' : formatReport(report));
    return EXIT_OK;
  } catch (err) {
    const code = err instanceof InspectdError ? ` [${err.code}]` : '';
    process.stderr.write(`inspectd eval: ${errorMessage(err)}${code}\n`);
    return EXIT_FAILURE;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await evalCommand(process.argv.slice(2));
}
