/**
 * What OrtEngine (ort.ts, main thread) and its worker (ort-worker.ts) say to each other: the worker's start
 * data, the messages each way, and the NativeState cell they share. Both import this module, not each other.
 */
import type * as ort from 'onnxruntime-node';
import type { OutputTensor } from '../contracts/engine.js';

/**
 * Stopping an engine's worker thread while onnxruntime-node is inside a native call (process.exit(), an
 * uncaught exception on the main thread, worker.terminate()) aborts the whole process ("terminate called
 * after throwing an instance of 'Napi::Error'", seen with 1.30). So the worker brackets its native calls
 * with this state (one Int32 in a SharedArrayBuffer), and before its thread is stopped the engine waits
 * for IDLE and swaps in STOPPING, after which the worker starts no native call.
 */
export const NativeState = { IDLE: 0, NATIVE: 1, STOPPING: 2 } as const;

export interface OrtWorkerData {
  /** Path, or model bytes (our own copy, transferred). */
  model: string | Uint8Array;
  sessionOptions: ort.InferenceSession.SessionOptions;
  /** One Int32 holding a NativeState, shared with the engine's process-exit guard. */
  state: SharedArrayBuffer;
}

export type OrtWorkerRequest =
  | {
      type: 'run';
      id: number;
      name: string;
      /** float32 values; returned in the reply so the engine can reuse it. */
      input: ArrayBuffer;
      dims: number[];
      half: boolean;
      outputs: string[];
      /**
       * Float32 buffers of earlier outputs, one per name in `outputs`, for this run to write into (onnxruntime
       * pre-allocated outputs); returned in the reply, as the outputs' buffers when they were used.
       */
      reuse?: ArrayBuffer[];
    }
  | { type: 'release' };

export type OrtWorkerReply =
  | { type: 'ready'; inputs: ort.InferenceSession.ValueMetadata[]; outputs: ort.InferenceSession.ValueMetadata[] }
  | { type: 'load-error'; message: string }
  | {
      type: 'result';
      id: number;
      outputs: OutputTensor[];
      input: ArrayBuffer;
      /** performance.timeOrigin + performance.now() in the worker when session.run started: the clocks differ by origin only. */
      startedAt: number;
      /** Milliseconds inside session.run. */
      runMs: number;
      /** Reuse buffers that were not used for outputs (sizes changed, or reuse failed): the engine may pool them again. */
      unused?: ArrayBuffer[];
      /** The outputs are the request's reuse buffers. */
      reused: boolean;
    }
  | { type: 'run-error'; id: number; message: string; input: ArrayBuffer; unused?: ArrayBuffer[] }
  | { type: 'released'; error?: string };
