/** Any input ffmpeg reads (V4L2, RTSP, HTTP, files, lavfi), decoded and scaled to rgb24 on a pipe. */
import type { Logger } from '../ops/log.js';
import type { FfmpegSourceConfig } from '../config/types.js';
import { PipeProcessSource } from './raw-pipe.js';

export function ffmpegArgs(src: FfmpegSourceConfig): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (/^rtsps?:\/\//i.test(src.input)) args.push('-rtsp_transport', src.rtspTransport ?? 'tcp');
  if (src.realtime) args.push('-re');
  if (src.loop) args.push('-stream_loop', '-1');
  if (src.inputFormat) args.push('-f', src.inputFormat);
  args.push(...(src.inputArgs ?? []), '-i', src.input);
  const vf = `scale=${src.width}:${src.height}` + (src.fps ? `,fps=${src.fps}` : '');
  args.push('-an', '-sn', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-vf', vf, 'pipe:1');
  return args;
}

export class FfmpegSource extends PipeProcessSource {
  constructor(cameraId: string, src: FfmpegSourceConfig, deps: { logger?: Logger; command?: string; killTimeoutMs?: number } = {}) {
    super({
      cameraId,
      kind: 'ffmpeg',
      command: deps.command ?? 'ffmpeg',
      args: ffmpegArgs(src),
      width: src.width,
      height: src.height,
      origin: src.input,
      logger: deps.logger,
      killTimeoutMs: deps.killTimeoutMs,
      installHint: 'install ffmpeg (apt-get install ffmpeg) or put it on PATH',
    });
  }
}
