/**
 * Any input ffmpeg reads (V4L2, RTSP, HTTP, files, lavfi), decoded and scaled to rgb24 on a pipe.
 *
 * Credentials: ffmpeg takes RTSP/HTTP credentials only inside the input URL (it has no option or file to
 * read them from), so they are in ffmpeg's command line, which any local user can read (`ps`,
 * /proc/<pid>/cmdline) unless /proc is mounted with hidepid. Our own logs, errors, frame origins and status
 * carry the URL redacted (util/redact.ts). The README and the schema say so.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from '../ops/log.js';
import type { FfmpegSourceConfig } from '../config/types.js';
import { PipeProcessSource } from './raw-pipe.js';
import type { SourceHandlers } from './source.js';

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

/**
 * Whether the input is a regular file ffmpeg plays once: not a URL (file: aside), not a device, FIFO or
 * lavfi graph (those are not regular files). A file that ffmpeg cannot open fails anyway.
 */
export async function isFileInput(input: string): Promise<boolean> {
  const p = input.startsWith('file:') ? input.slice('file:'.length) : input;
  if (/^[a-z][a-z0-9+.-]*:/i.test(p)) return false;
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export class FfmpegSource extends PipeProcessSource {
  constructor(
    cameraId: string,
    private readonly src: FfmpegSourceConfig,
    deps: { logger?: Logger; command?: string; killTimeoutMs?: number } = {},
  ) {
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

  /** A file with loop: false is finite: its clean end is the camera's end ('ended'), not a restart. */
  override async start(handlers: SourceHandlers): Promise<void> {
    this.finite = !this.src.loop && (await isFileInput(this.src.input));
    return super.start(handlers);
  }
}
