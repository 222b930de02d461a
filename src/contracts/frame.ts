/** A frame as every source produces it and every later stage consumes it. */
export type PixelFormat = 'rgb24' | 'bgr24' | 'gray8';

export interface Frame {
  cameraId: string;
  /** Per camera, starts at 0 on daemon start and never repeats while it runs. */
  seq: number;
  /** performance.now() at capture: for latency arithmetic. */
  captureMono: number;
  /** Date.now() at capture: for payloads. */
  captureWall: number;
  width: number;
  height: number;
  format: PixelFormat;
  /** Tightly packed unless stride says otherwise. */
  data: Buffer;
  /** Bytes per row; defaults to width * channels. */
  stride?: number;
  /** Part id from a PLC trigger, when the frame was tagged by one. */
  triggerId?: string;
  /** Where it came from, for logs (file path, URL without credentials). */
  origin?: string;
  /**
   * Lossless sources (hot folder) set this and emit their next frame only after it is called:
   * the pipeline never drops such a frame under latest-wins and calls done() once the frame's
   * results are published (err when it could not be processed).
   */
  done?: (err?: Error) => void;
}

export function channelsOf(format: PixelFormat): number {
  return format === 'gray8' ? 1 : 3;
}
