/**
 * `inspectd dataset --out DIR`: writes the synthetic production line (the demo camera's scenes) as an
 * Ultralytics YOLO dataset, images/{train,val}/*.jpg + labels/{train,val}/*.txt + data.yaml. The demo model
 * is trained on it (models/make-demo.sh); the same seed always gives the same images and labels.
 */
import { DATASET_SCENES, writeDataset } from '../synth/dataset.js';
import { EXIT_OK, parseCommandArgs, parseInteger, parseNumber, usageError } from './args.js';

const HELP = `usage: inspectd dataset --out DIR [--train 1000] [--val 200] [--seed 1] [--width 320] [--height 240]
                        [--defect-rate 0.8] [--scene conveyor|still|mixed] [--quiet]
Writes the synthetic line as a YOLO dataset under DIR: images/{train,val}/*.jpg, labels/{train,val}/*.txt
and data.yaml (train with Ultralytics or models/train.py, check with inspectd eval --data DIR).
Train and val come from one seed on disjoint frames; the same seed always writes the same files.
--scene conveyor (default): moving belts, plates whole and cut by the frame's edges, as the demo camera
films them; still: one scene per frame (an indexed line); mixed: every fifth image still. Labels: the defects and every plate (class plate).
Progress on stderr (--quiet: none); one JSON line on stdout when done: {"out", "images", "labels", "seconds"}.
`;

export async function datasetCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, HELP, {
    out: { type: 'string', short: 'o' },
    train: { type: 'string' },
    val: { type: 'string' },
    seed: { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
    'defect-rate': { type: 'string' },
    scene: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  if (!parsed) return EXIT_OK;
  const v = parsed.values;
  if (!v.out) throw usageError(`--out is required\n${HELP}`);
  const scene = DATASET_SCENES.find((s) => s === (v.scene ?? 'conveyor'));
  if (scene === undefined) throw usageError(`--scene must be one of ${DATASET_SCENES.join(', ')}, got ${v.scene}`);
  const opts = {
    out: v.out,
    train: parseInteger('train', v.train, 0, 10_000_000) ?? 1000,
    val: parseInteger('val', v.val, 0, 10_000_000) ?? 200,
    seed: parseInteger('seed', v.seed, 0, 0xffffffff) ?? 1,
    width: parseInteger('width', v.width, 32, 8192) ?? 320,
    height: parseInteger('height', v.height, 32, 8192) ?? 240,
    defectRate: parseNumber('defect-rate', v['defect-rate'], 0, 1) ?? 0.8,
    scene,
  };
  const t0 = Date.now();
  const res = await writeDataset({
    ...opts,
    onProgress: v.quiet
      ? undefined
      : (done, total) => {
          if (done % 500 === 0 || done === total) process.stderr.write(`inspectd dataset: ${done}/${total}\n`);
        },
  });
  process.stdout.write(JSON.stringify({ out: v.out, ...res, seconds: (Date.now() - t0) / 1000 }) + '\n');
  return EXIT_OK;
}
