import type { Frame } from '../contracts/frame.js';

/** What a running source calls. Frames are pushed; latest-frame-wins scheduling lives downstream. */
export interface SourceHandlers {
  frame(frame: Frame): void;
  /** The source ended (null: clean end, e.g. a non-looping file) or failed; the supervisor restarts it. */
  ended(err: Error | null): void;
}

/**
 * A raw frame source (ffmpeg, gstreamer, folder, synthetic). It fills Frame.seq with its own counter;
 * the supervisor (src/source/supervisor.ts) renumbers per camera, detects stalls/frozen frames and restarts.
 * start() resolves once the source is running (process spawned), not at the first frame.
 */
export interface FrameSource {
  readonly cameraId: string;
  readonly kind: string;
  start(handlers: SourceHandlers): Promise<void>;
  /** Idempotent; kills child processes and waits for them. */
  stop(): Promise<void>;
}
