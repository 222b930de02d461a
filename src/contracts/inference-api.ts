/**
 * What the HTTP layer (src/ops/api-routes.ts) needs from the engine: the port the app implements
 * (src/app/inference-api.ts) over the model in service and the pipeline's scheduler. Refusals are thrown as
 * InspectdError with an API_* code (errors.ts); the HTTP layer maps codes to statuses.
 */

/** A tensor as the Open Inference Protocol describes it: datatype 'FP32', 'FP16', … and dims (-1: dynamic). */
export interface ApiTensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ApiModelInfo {
  name: string;
  /** e.g. onnxruntime_onnx, tensorrt_plan (Triton's platform names). */
  platform: string;
  inputs: ApiTensorMeta[];
  outputs: ApiTensorMeta[];
}

/** An image for /v1/detect: encoded (JPEG, PNG) or raw interleaved pixels. */
export type ApiImage = { kind: 'encoded'; bytes: Buffer } | { kind: 'raw'; bytes: Buffer; width: number; height: number; format: 'rgb24' | 'bgr24' | 'gray8' };

export interface ApiDetectOptions {
  conf?: number;
  iou?: number;
  /** Apply this camera's rules: the detections it keeps, and its reject decision. */
  camera?: string;
  /** The image's name in the response (`image`), as the CLI's detect prints the file name. */
  name: string;
  annotated?: boolean;
}

export interface ApiDetectResult {
  /** The CLI `detect --json` line (image, width, height, detections) plus latency, engine, and reject with a camera. */
  json: Record<string, unknown>;
  /** With annotated: the image with its boxes drawn, JPEG. */
  jpeg?: Buffer;
}

export interface ApiInferInput {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ApiInferOutput {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface InferenceApi {
  /** Why inference cannot be served now (no model yet, stopping); null when it can. */
  notReady(): string | null;
  /** The model in service; null while none is. */
  model(): ApiModelInfo | null;
  detect(image: ApiImage, opts: ApiDetectOptions): Promise<ApiDetectResult>;
  /** The model's raw outputs for one input tensor (the model's single image input). */
  infer(input: ApiInferInput): Promise<ApiInferOutput[]>;
}
