/**
 * Video files and streams for `inspectd batch`: ffprobe for size and frame rate, then ffmpeg to rgb24 on a
 * pipe through the sources' PipeProcessSource, pulled at the consumer's pace (the pipe is paused while a few
 * frames wait), sampled by --every N or --fps F.
 */
import { execFile } from 'node:child_process';
import { ErrorCodes, InspectdError } from '../errors.js';
import type { Frame } from '../contracts/frame.js';
import { PipeProcessSource } from '../source/raw-pipe.js';
import { redactCredentials } from '../util/redact.js';

export interface VideoInfo {
  width: number;
  height: number;
  /** Frames per second of the stream; undefined when ffprobe cannot tell (then frames carry no time). */
  fps: number | undefined;
  /** Frames in the file when known (for the ETA). */
  frames: number | undefined;
}

const INSTALL_HINT = 'install ffmpeg (apt-get install ffmpeg) or put it on PATH';
const PROBE_TIMEOUT_MS = 20000;

function rate(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  const [n, d] = s.split('/').map(Number);
  const v = d === undefined ? n : n! / d;
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
}

export function probeVideo(input: string): Promise<VideoInfo> {
  const args = ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate,nb_frames:format=duration', '-of', 'json', input];
  return new Promise((resolve, reject) => {
    execFile('ffprobe', args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const fail = (why: string) => reject(new InspectdError(ErrorCodes.SOURCE_FAILED, `${redactCredentials(input)}: ${why}`, { cause: err ?? undefined }));
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fail(`ffprobe not found: ${INSTALL_HINT}`);
        return fail(`ffprobe cannot read it: ${redactCredentials(stderr.trim().split('\n').slice(-2).join(' | ') || err.message)}`);
      }
      let j: { streams?: Record<string, unknown>[]; format?: { duration?: string } };
      try {
        j = JSON.parse(stdout);
      } catch {
        return fail('ffprobe printed no JSON');
      }
      const s = j.streams?.[0];
      const width = Number(s?.width);
      const height = Number(s?.height);
      if (!s || !(width > 0) || !(height > 0)) return fail('no video stream in it');
      const fps = rate(s.avg_frame_rate) ?? rate(s.r_frame_rate);
      const nb = Number(s.nb_frames);
      const duration = Number(j.format?.duration);
      const frames = nb > 0 ? nb : fps && duration > 0 ? Math.round(duration * fps) : undefined;
      resolve({ width, height, fps, frames });
    });
  });
}

export type Sampling = { every: number } | { fps: number };

/**
 * Whether source frame `index` is sampled: every Nth frame from 0, or for --fps F the first frame of each
 * 1/F-second slot (all frames when F is at least the stream's rate; every frame when the rate is unknown).
 */
export function sampled(index: number, sampling: Sampling, sourceFps: number | undefined): boolean {
  if ('every' in sampling) return index % sampling.every === 0;
  if (!sourceFps || sampling.fps >= sourceFps) return true;
  // The small bias keeps 0.1 * 10 from landing below 1 in floating point.
  const slot = (i: number) => Math.floor((i * sampling.fps) / sourceFps + 1e-9);
  return index === 0 || slot(index) !== slot(index - 1);
}

/** How many frames of `total` are sampled (for the ETA). */
export function sampledCount(total: number, sampling: Sampling, sourceFps: number | undefined): number {
  let n = 0;
  for (let i = 0; i < total; i++) if (sampled(i, sampling, sourceFps)) n++;
  return n;
}

export function videoArgs(input: string): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (/^rtsps?:\/\//i.test(input)) args.push('-rtsp_transport', 'tcp');
  // passthrough: one output frame per decoded frame, so the frame index is the stream's own.
  args.push('-i', input, '-map', '0:v:0', '-an', '-sn', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return args;
}

const HIGH_WATER = 4;

/**
 * The decoded frames of one video in order, `seq` being the frame index. ffmpeg's pipe is paused while
 * HIGH_WATER frames wait, so decode runs ahead of the consumer by a few frames only. A failure of ffmpeg
 * is thrown after the frames it delivered; leaving the loop early stops ffmpeg.
 */
export async function* videoFrames(input: string, info: VideoInfo): AsyncGenerator<Frame> {
  const src = new PipeProcessSource({
    cameraId: 'batch',
    kind: 'ffmpeg',
    command: 'ffmpeg',
    args: videoArgs(input),
    width: info.width,
    height: info.height,
    origin: input,
    installHint: INSTALL_HINT,
  });
  const waiting: Frame[] = [];
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | undefined;
  await src.start({
    frame: (f) => {
      waiting.push(f);
      if (waiting.length >= HIGH_WATER) src.pause();
      wake?.();
    },
    ended: (err) => {
      ended = true;
      failure = err;
      wake?.();
    },
  });
  try {
    for (;;) {
      const f = waiting.shift();
      if (f) {
        if (waiting.length < HIGH_WATER) src.resume();
        yield f;
        continue;
      }
      if (ended) {
        if (failure) throw failure;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    await src.stop();
  }
}
