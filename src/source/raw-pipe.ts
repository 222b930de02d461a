/**
 * Shared by the ffmpeg and gstreamer sources: run a child process that writes raw rgb24 frames to stdout,
 * cut the byte stream into exact width*height*3 frames (each byte copied once, frames split across pipe
 * chunks handled), keep the tail of stderr for the error message, stop with SIGTERM then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ErrorCodes, InspectdError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { Frame } from '../contracts/frame.js';
import type { FrameSource, SourceHandlers } from './source.js';
import { redactArgs, redactCredentials } from '../util/redact.js';

/** Cuts a byte stream into fixed-size frames. */
export class RawFrameReader {
  private current: Buffer | undefined;
  private filled = 0;

  constructor(
    readonly frameBytes: number,
    private readonly onFrame: (data: Buffer) => void,
  ) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`frameBytes must be a positive integer, got ${frameBytes}`);
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      // A chunk that holds a whole frame at a frame boundary is handed on without a copy.
      if (this.filled === 0 && chunk.length - off >= this.frameBytes && off === 0 && chunk.length === this.frameBytes) {
        this.onFrame(chunk);
        return;
      }
      this.current ??= Buffer.allocUnsafe(this.frameBytes);
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      chunk.copy(this.current, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        const full = this.current;
        this.current = undefined;
        this.filled = 0;
        this.onFrame(full);
      }
    }
  }

  /** Bytes of an incomplete frame held (a truncated stream leaves these). */
  get pending(): number {
    return this.filled;
  }
}

export interface PipeProcessOptions {
  cameraId: string;
  kind: string;
  command: string;
  args: string[];
  width: number;
  height: number;
  /** For Frame.origin and log lines; credentials are stripped. */
  origin: string;
  logger?: Logger;
  /** SIGTERM, then SIGKILL after this many ms (default 2000). */
  killTimeoutMs?: number;
  /** What to tell the user when the command is missing. */
  installHint: string;
}

const STDERR_TAIL = 2048;

export class PipeProcessSource implements FrameSource {
  readonly cameraId: string;
  readonly kind: string;
  /** Whether a clean exit is the end of a finite input (subclasses decide in start()). */
  finite = false;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private stderrTail = '';
  private seq = 0;

  constructor(private readonly opts: PipeProcessOptions) {
    this.cameraId = opts.cameraId;
    this.kind = opts.kind;
  }

  /** The child's pid while it runs (tests kill it to simulate a dead camera). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(handlers: SourceHandlers): Promise<void> {
    if (this.child) return Promise.resolve();
    const { command, args, width, height } = this.opts;
    const origin = redactCredentials(this.opts.origin);
    this.opts.logger?.debug({ command, args: redactArgs(args) }, 'starting source process');
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const reader = new RawFrameReader(width * height * 3, (data) => {
      const frame: Frame = {
        cameraId: this.cameraId,
        seq: this.seq++,
        captureMono: performance.now(),
        captureWall: Date.now(),
        width,
        height,
        format: 'rgb24',
        data,
        origin,
      };
      handlers.frame(frame);
    });
    child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-STDERR_TAIL);
    });
    return new Promise<void>((resolve, reject) => {
      let spawned = false;
      let done = false;
      const finish = (err: Error | null): void => {
        if (done) return;
        done = true;
        if (!spawned) reject(err ?? new Error('process did not start'));
        else if (!this.stopping) handlers.ended(err);
      };
      this.exited = new Promise<void>((resolveExit) => {
        child.once('error', (err: NodeJS.ErrnoException) => {
          const msg = err.code === 'ENOENT' ? `${command} not found: ${this.opts.installHint}` : `${command} failed for camera ${this.cameraId}: ${err.message}`;
          finish(new InspectdError(ErrorCodes.SOURCE_FAILED, msg, { cause: err }));
          if (!spawned) resolveExit();
        });
        // 'close' (not 'exit'): stdout is drained, so the last frames were delivered before ended().
        child.once('close', (code, signal) => {
          resolveExit();
          if (code === 0) {
            if (reader.pending > 0) this.opts.logger?.warn({ bytes: reader.pending }, 'stream ended inside a frame');
            finish(null);
            return;
          }
          const tail = redactCredentials(this.stderrTail.trim().split('\n').slice(-5).join(' | '));
          const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          finish(new InspectdError(ErrorCodes.SOURCE_FAILED, `${command} for camera ${this.cameraId} (${origin}) ${how}${tail ? `: ${tail}` : ''}`));
        });
      });
      child.once('spawn', () => {
        spawned = true;
        resolve();
      });
    });
  }

  /** Stops reading the child's stdout (it blocks on the full pipe): a consumer that pulls frames at its own pace (`inspectd batch`). */
  pause(): void {
    this.child?.stdout?.pause();
  }

  resume(): void {
    this.child?.stdout?.resume();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.stopping) return this.exited;
    this.stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.killTimeoutMs ?? 2000);
      await this.exited;
      clearTimeout(timer);
    }
    await this.exited;
  }
}
