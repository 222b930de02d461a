import type { Frame } from '../contracts/frame.js';

/** What a running source calls. Frames are pushed; latest-frame-wins scheduling lives downstream. */
export interface SourceHandlers {
  frame(frame: Frame): void;
  /**
   * The source ended (null: clean end, e.g. a video file played to its end) or failed. The supervisor
   * restarts it, except after a clean end of a finite source (FrameSource.finite).
   */
  ended(err: Error | null): void;
  /**
   * A lasting problem the source lives with while it keeps running (a hot folder that cannot move files out):
   * the camera is in fault with this reason, without a restart (a new source would meet the same problem);
   * null once it has cleared. Optional for callers that do not supervise the source.
   */
  fault?(reason: string | null): void;
}

/**
 * A raw frame source (ffmpeg, gstreamer, folder, synthetic). It fills Frame.seq with its own counter;
 * the supervisor (src/source/supervisor.ts) renumbers per camera, detects stalls/frozen frames and restarts.
 * start() resolves once the source is running (process spawned), not at the first frame.
 *
 * Log lines: the logger a source gets is bound to its camera (logger.child({ camera })), so sources do not
 * add a camera field of their own.
 */
export interface FrameSource {
  readonly cameraId: string;
  readonly kind: string;
  /**
   * True when a clean end is final: a file played once (ffmpeg `loop: false` on a regular file). Known once
   * start() has resolved. Absent or false: a clean end is restarted (live streams, devices, test patterns).
   */
  readonly finite?: boolean;
  start(handlers: SourceHandlers): Promise<void>;
  /** Idempotent; kills child processes and waits for them. */
  stop(): Promise<void>;
}
