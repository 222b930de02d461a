/**
 * The Engine interface: one loaded model on one execution backend. Implementations:
 * ort.ts (onnxruntime-node CPU/CUDA) and tensorrt.ts (the native addon). select.ts picks one.
 */
export type EngineKind = 'tensorrt' | 'ort-cuda' | 'ort-cpu';
export type EnginePreference = 'auto' | 'tensorrt' | 'cuda' | 'cpu';

export interface TensorSpec {
  name: string;
  /** Dimensions; -1 (or a symbolic name read as -1) where dynamic. */
  shape: number[];
  type: 'float32' | 'float16';
}

export interface OutputTensor {
  name: string;
  dims: number[];
  data: Float32Array;
}

export interface Engine {
  readonly kind: EngineKind;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Runs one batch; `input` is NCHW float32 matching inputs[0] with `dims`. Never blocks the JS thread. */
  run(input: Float32Array, dims: number[]): Promise<OutputTensor[]>;
  /** Refuses (INSPECTD_ERR_ENGINE_BUSY) while a run is in flight; idempotent otherwise. */
  dispose(): Promise<void>;
  /** Set once the engine can never run again (e.g. its worker thread died): why. A caller replaces it. */
  readonly failure?: string;
}

/** Why an engine earlier in the fallback chain was not used. */
export interface EngineRefusal {
  kind: EngineKind;
  reason: string;
}
