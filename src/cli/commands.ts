/**
 * The subcommand table: name -> handler(argv after the name) resolving to the exit code.
 * Other modules register their subcommands here (one line each).
 */
export type CommandHandler = (argv: string[]) => Promise<number>;

export interface CommandEntry {
  summary: string;
  run: CommandHandler;
  /** Takes over the signals main.ts holds while loading (src/cli/signals.ts); others get the defaults back first. */
  ownsSignals?: boolean;
}

export const commands: Record<string, CommandEntry> = {
  detect: {
    summary: 'detect objects in images: detect --model M [--conf C] [--iou I] [--engine E] [--labels F] [--json] IMAGE...',
    run: async (argv) => (await import('./detect.js')).detectCommand(argv),
  },
  batch: {
    summary: 'detect over folders, image lists and videos to JSON lines: batch --model M [--out F] [--resume] [--every N|--fps F] INPUT...',
    run: async (argv) => (await import('./batch.js')).batchCommand(argv),
  },
  info: {
    summary: 'describe a model: info --model M [--labels F] [--engine E] [--json]',
    run: async (argv) => (await import('./info.js')).infoCommand(argv),
  },
  run: {
    summary: 'run the daemon: run [--config FILE] (no config: embedded defaults)',
    run: async (argv) => (await import('./run.js')).runCommand(argv),
    ownsSignals: true,
  },
  'check-config': {
    summary: 'validate config files without running: check-config FILE...',
    run: async (argv) => (await import('./check-config.js')).checkConfigCommand(argv),
  },
  eval: {
    summary: 'precision, recall, mAP50 on a YOLO-format labelled folder: eval --model M --data DIR [--json]',
    run: async (argv) => (await import('./eval.js')).evalCommand(argv),
  },
  dataset: {
    summary: 'write the synthetic line as a YOLO dataset: dataset --out DIR [--train N] [--val N] [--seed S]',
    run: async (argv) => (await import('./dataset.js')).datasetCommand(argv),
  },
  bench: {
    summary: 'time preprocess, inference and postprocess next to a bare session.run: bench --model M [--image F] [--iterations N]',
    run: async (argv) => (await import('./bench.js')).benchCommand(argv),
  },
  'build-engine': {
    summary: 'build a TensorRT engine for a model: build-engine --model M.onnx [--fp16|--int8] [--cache DIR]',
    run: async (argv) => (await import('./build-engine.js')).buildEngineCommand(argv),
  },
};
