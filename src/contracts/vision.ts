/** Shared vision types: what the decoders produce and what every stage after them consumes. */

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection {
  classId: number;
  class: string;
  confidence: number;
  /** In source-image pixels, clipped to the image. */
  box: Box;
}

/** The output layouts we decode; anything else is refused with INSPECTD_ERR_MODEL_LAYOUT. */
export type OutputLayout = 'yolov5' | 'yolov8' | 'end2end';

export interface ModelMetadata {
  /** Class names by id; from ONNX metadata `names`, else a labels file, else "class<N>". */
  names: string[];
  /** [height, width] of the model input. */
  imgsz: [number, number];
  stride?: number;
  task?: string;
  end2end?: boolean;
  /** Every metadata_props key/value read from the file. */
  raw: Record<string, string>;
  /**
   * Where the class names came from; 'placeholders' (class0, class1 …) means the model had no Ultralytics
   * metadata and no labels file: its layout was inferred from the output shapes alone.
   */
  namesFrom?: 'metadata' | 'labels' | 'placeholders';
}

/** Geometry of one letterbox: source pixels -> model input pixels is (x * scale + padX). */
export interface LetterboxInfo {
  scale: number;
  padX: number;
  padY: number;
  srcWidth: number;
  srcHeight: number;
  dstWidth: number;
  dstHeight: number;
}

export interface PostprocessOptions {
  /** Global confidence threshold (default 0.25). */
  conf: number;
  /** Per-class override by class id or name. */
  classConf?: Record<string, number>;
  /** NMS IoU threshold (default 0.7). */
  iou: number;
  /** Maximum detections kept (default 300). */
  maxDetections: number;
}

export const DEFAULT_POSTPROCESS: PostprocessOptions = { conf: 0.25, iou: 0.7, maxDetections: 300 };

/** Milliseconds spent per stage for one frame. */
export interface StageTimings {
  preprocessMs: number;
  /** The engine's time on this frame, its wait behind the previous frame excluded. */
  inferenceMs: number;
  postprocessMs: number;
  /** Time the frame waited inside the engine behind the previous one (it was submitted ahead); 0 or absent otherwise. */
  engineWaitMs?: number;
}
