/**
 * `inspectd batch`: the model over folders, image lists and videos; JSON lines to --out or stdout, one per
 * image or sampled video frame, resumable. Decoding and letterboxing run ahead of the engine through a
 * small bounded queue, so the engine always has the next frame ready.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { Detector, IMAGE_DECODES_AHEAD } from '../inference/detector.js';
import { annotatedJpeg } from '../vision/annotate.js';
import type { Frame } from '../contracts/frame.js';
import type { Detection } from '../contracts/vision.js';
import type { PreparedFrame } from '../contracts/detector.js';
import { EXIT_FAILURE, EXIT_OK, MODEL_OPTIONS, parseCommandArgs, parseInteger, parseModelOptions, parseNumber, usageError } from './args.js';
import { detectionJson } from '../vision/result-json.js';
import { expandInputs, type WorkItem } from './batch-inputs.js';
import { probeVideo, sampled, sampledCount, videoFrames, type Sampling } from './batch-video.js';
import { CSV_HEADER, LineFile, Progress, csvRows, lineKey, readResume, summaryText, type ResumeState } from './batch-output.js';

const HELP = `usage: inspectd batch --model M [--out FILE] [--csv FILE] [--save-annotated DIR] [--resume]
                      [--include GLOB]... [--list FILE]... [--video INPUT]... [--every N | --fps F]
                      [--conf C] [--iou I] [--engine auto|tensorrt|cuda|cpu] [--labels F] [--threads N]
                      [--max-det N] [INPUT...]
INPUT: a folder (walked recursively, files matching --include, default *.{jpg,jpeg,png,bmp,webp,tif,tiff}),
an image file, a video file (.mp4 .mkv .avi .mov .webm ...) or a stream URL (rtsp://, http://); --list
files name one input per line; --video names an input to decode with ffmpeg whatever its name.
Prints one JSON line per image
  {"image", "width", "height", "detections": [{"classId", "class", "confidence", "box": {"x1","y1","x2","y2"}}]}
and per sampled video frame the same with "frame" (index in the video) and "time" (seconds); an input that
cannot be processed gives {"image", ["frame",] "error": {"code", "message"}} and the others go on.
--every N keeps every Nth video frame (default 1), --fps F about F frames per second of video.
--resume skips the inputs already in --out and appends. A summary goes to stderr, a progress bar too
when stderr is a terminal. Exit 1 if any input failed (or the model could not be loaded), 2 on usage errors.
`;

/** Decoded, letterboxed frames waiting for the engine: enough to hide a slow decode, few enough to bound memory. */
const PREFETCH = 4;

interface Job {
  image: string;
  frame?: number;
  time?: number | null;
  prepared?: PreparedFrame;
  error?: unknown;
  /** For --save-annotated: the encoded image or the raw video frame. */
  bytes?: Buffer;
  raw?: Frame;
}

/** A bounded FIFO between the decoding producer and the inferring consumer; put() waits while it is full. */
class Prefetch<T> {
  private readonly items: T[] = [];
  private closed = false;
  private notify: (() => void) | undefined;

  constructor(private readonly depth: number) {}

  private wake(): void {
    const n = this.notify;
    this.notify = undefined;
    n?.();
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => {
      this.notify = resolve;
    });
  }

  async put(item: T): Promise<void> {
    while (this.items.length >= this.depth) await this.wait();
    this.items.push(item);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  /** The next item, or undefined once closed and drained. */
  async take(): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (this.closed) return undefined;
      await this.wait();
    }
    const item = this.items.shift();
    this.wake();
    return item;
  }
}

function errorJson(err: unknown): { code: string; message: string } {
  const code = err instanceof InspectdError ? err.code : ErrorCodes.IMAGE_UNREADABLE;
  return { code, message: errorMessage(err) };
}

async function readImage(image: string): Promise<Buffer> {
  try {
    return await readFile(image);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : `cannot read: ${errorMessage(err)}`;
    throw new InspectdError(ErrorCodes.IMAGE_UNREADABLE, `${image}: ${why}`, { cause: err });
  }
}

/** A file name below --save-annotated that keeps the input's folders (no way out of the folder through ..). */
function annotatedPath(dir: string, image: string, frame?: number): string {
  const parts = image.split(/[\\/:]+/).filter((s) => s !== '' && s !== '.' && s !== '..');
  const rel = parts.join(path.sep);
  if (frame !== undefined) return path.join(dir, rel, `frame-${String(frame).padStart(6, '0')}.jpg`);
  return path.join(dir, rel.replace(/\.[^./\\]*$/, '') + '.jpg');
}

async function saveAnnotated(dir: string, job: Job, width: number, height: number, dets: Detection[]): Promise<void> {
  const file = annotatedPath(dir, job.image, job.frame);
  await mkdir(path.dirname(file), { recursive: true });
  const src = job.raw ? { raw: { data: job.raw.data, width: job.raw.width, height: job.raw.height, channels: 3 as const } } : { bytes: job.bytes! };
  const jpeg = await annotatedJpeg(src, width, height, dets);
  await writeFile(file, jpeg);
}

export async function batchCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    argv,
    HELP,
    {
      ...MODEL_OPTIONS,
      out: { type: 'string', short: 'o' },
      csv: { type: 'string' },
      'save-annotated': { type: 'string' },
      resume: { type: 'boolean', default: false },
      include: { type: 'string', multiple: true },
      list: { type: 'string', multiple: true },
      video: { type: 'string', multiple: true },
      every: { type: 'string' },
      fps: { type: 'string' },
    },
    true,
  );
  if (!parsed) return EXIT_OK;
  const { values: v, positionals } = parsed;
  if (v.model === undefined) throw usageError(`--model is required\n${HELP}`);
  if (positionals.length === 0 && !v.list?.length && !v.video?.length) throw usageError(`no inputs given\n${HELP}`);
  if (v.resume && v.out === undefined) throw usageError('--resume needs --out FILE (the file to resume)');
  if (v.every !== undefined && v.fps !== undefined) throw usageError('--every and --fps both choose the video frames: pass one');
  const every = parseInteger('every', v.every, 1, 1_000_000);
  const fps = parseNumber('fps', v.fps, 0.001, 1000);
  const sampling: Sampling = fps !== undefined ? { fps } : { every: every ?? 1 };
  const { post, engine, threads } = parseModelOptions(v);
  const items = await expandInputs({ inputs: positionals, lists: v.list ?? [], videos: v.video ?? [], include: v.include ?? [] });
  const resume: ResumeState = v.resume ? readResume(v.out!) : { done: new Set(), failures: [], truncatedBytes: 0 };
  const logger = createLogger({ fd: 2, level: process.env.INSPECTD_LOG_LEVEL ?? 'warn' });
  if (resume.truncatedBytes > 0) logger.warn({ file: v.out, bytes: resume.truncatedBytes }, 'cut off a torn last line; that input is done again');

  let detector: Detector;
  try {
    detector = await Detector.load({ modelPath: v.model, labelsPath: v.labels, engine, strictEngine: engine !== undefined, threads, logger, tensorrtBuild: false });
  } catch (err) {
    process.stderr.write(`inspectd batch: ${errorMessage(err)}\n`);
    return EXIT_FAILURE;
  }

  const out = new LineFile(v.out);
  const csv = v.csv !== undefined ? new LineFile(v.csv, CSV_HEADER) : undefined;
  try {
    out.open(v.resume);
    csv?.open(v.resume);
  } catch (err) {
    await detector.dispose();
    throw err;
  }
  const images = items.filter((i) => i.kind === 'image');
  const progress = new Progress(images.filter((i) => !resume.done.has(lineKey(i.path))).length);
  const queue = new Prefetch<Job>(PREFETCH);
  const t0 = performance.now();
  const summary = {
    images: 0,
    frames: 0,
    skipped: 0,
    byClass: new Map<string, number>(),
    seconds: 0,
    failures: [] as { image: string; message: string }[],
    earlierFailures: resume.failures.length,
  };
  let stopProducer = false;

  const produceVideo = async (item: WorkItem): Promise<void> => {
    try {
      const info = await probeVideo(item.path);
      if (info.frames !== undefined) progress.addToTotal(sampledCount(info.frames, sampling, info.fps));
      else progress.unknownTotal();
      for await (const raw of videoFrames(item.path, info)) {
        if (stopProducer) return;
        const index = raw.seq;
        if (!sampled(index, sampling, info.fps)) continue;
        const time = info.fps ? Number((index / info.fps).toFixed(3)) : null;
        if (resume.done.has(lineKey(item.path, index))) {
          summary.skipped++;
          continue;
        }
        const job: Job = { image: item.path, frame: index, time, raw: v['save-annotated'] !== undefined ? raw : undefined };
        try {
          job.prepared = await detector.prepareFrame(raw);
        } catch (err) {
          job.error = err;
        }
        await queue.put(job);
      }
    } catch (err) {
      await queue.put({ image: item.path, error: err });
    }
  };

  const prepareJob = async (item: WorkItem): Promise<Job> => {
    const job: Job = { image: item.path };
    try {
      const bytes = await readImage(item.path);
      if (v['save-annotated'] !== undefined) job.bytes = bytes;
      job.prepared = await detector.prepareImage(bytes);
    } catch (err) {
      job.error = err;
    }
    return job;
  };

  const produce = async (): Promise<void> => {
    // Images decoding at once, queued in input order (IMAGE_DECODES_AHEAD says why more than one).
    const decoding: Promise<Job>[] = [];
    const flush = async (keep: number): Promise<void> => {
      while (decoding.length > keep) await queue.put(await decoding.shift()!);
    };
    try {
      for (const item of items) {
        if (stopProducer) break;
        if (resume.done.has(lineKey(item.path))) {
          summary.skipped++;
          continue;
        }
        if (item.kind === 'video') {
          await flush(0);
          await produceVideo(item);
          continue;
        }
        decoding.push(prepareJob(item));
        await flush(IMAGE_DECODES_AHEAD - 1);
      }
      // Started decodes are always queued: the consumer (or its final drain) gives their tensors back.
      await flush(0);
    } finally {
      queue.close();
    }
  };

  const fail = (job: Job, err: unknown): void => {
    const e = errorJson(err);
    const line = job.frame !== undefined ? { image: job.image, frame: job.frame, time: job.time, error: e } : { image: job.image, error: e };
    out.write(JSON.stringify(line) + '\n');
    summary.failures.push({ image: job.frame !== undefined ? `${job.image} frame ${job.frame}` : job.image, message: e.message });
  };

  const producer = produce();
  let done = 0;
  try {
    for (;;) {
      const job = await queue.take();
      if (!job) break;
      done++;
      if (job.error !== undefined || !job.prepared) {
        fail(job, job.error ?? new Error('not prepared'));
        progress.update(done);
        continue;
      }
      try {
        const r = await detector.inferPrepared(job.prepared, post);
        const { srcWidth: width, srcHeight: height } = job.prepared.info;
        const dets = r.detections.map(detectionJson);
        const line =
          job.frame !== undefined ? { image: job.image, frame: job.frame, time: job.time, width, height, detections: dets } : { image: job.image, width, height, detections: dets };
        if (v['save-annotated'] !== undefined) await saveAnnotated(v['save-annotated'], job, width, height, r.detections);
        out.write(JSON.stringify(line) + '\n');
        csv?.write(csvRows(line));
        if (job.frame !== undefined) summary.frames++;
        else summary.images++;
        for (const d of dets) summary.byClass.set(d.class, (summary.byClass.get(d.class) ?? 0) + 1);
      } catch (err) {
        fail(job, err);
      }
      progress.update(done);
    }
  } finally {
    stopProducer = true;
    // Drain what the producer still holds, so it finishes and gives its tensors back.
    for (let job = await queue.take(); job; job = await queue.take()) {
      if (job.prepared) detector.releasePrepared(job.prepared);
    }
    await producer;
    progress.clear();
    out.close();
    csv?.close();
    await detector.dispose();
  }
  summary.seconds = (performance.now() - t0) / 1000;
  process.stderr.write(summaryText(summary));
  return summary.failures.length > 0 || summary.earlierFailures > 0 ? EXIT_FAILURE : EXIT_OK;
}
