/**
 * CLI: node dist/src/synth/write-dataset.js --out DIR --train N --val M --seed S
 *      [--width 320] [--height 240] [--defect-rate 0.8]
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { writeDataset } from './dataset.js';

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${v}"`);
  return n;
}

export async function writeDatasetMain(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        train: { type: 'string' },
        val: { type: 'string' },
        seed: { type: 'string' },
        width: { type: 'string' },
        height: { type: 'string' },
        'defect-rate': { type: 'string' },
        quiet: { type: 'boolean' },
      },
    }));
  } catch (err) {
    process.stderr.write(`write-dataset: ${(err as Error).message}\n`);
    return 2;
  }
  if (!values.out) {
    process.stderr.write('usage: write-dataset --out DIR --train N --val M --seed S [--width W --height H --defect-rate R]\n');
    return 2;
  }
  try {
    const t0 = Date.now();
    const res = await writeDataset({
      out: values.out,
      train: Math.floor(int('train', values.train, 1000)),
      val: Math.floor(int('val', values.val, 200)),
      seed: Math.floor(int('seed', values.seed, 1)),
      width: Math.floor(int('width', values.width, 320)),
      height: Math.floor(int('height', values.height, 240)),
      defectRate: int('defect-rate', values['defect-rate'], 0.8),
      onProgress: values.quiet
        ? undefined
        : (d, t) => {
            if (d % 500 === 0 || d === t) process.stderr.write(`write-dataset: ${d}/${t}\n`);
          },
    });
    process.stdout.write(JSON.stringify({ out: values.out, ...res, seconds: (Date.now() - t0) / 1000 }) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`write-dataset: ${(err as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await writeDatasetMain(process.argv.slice(2));
}
