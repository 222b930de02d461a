/**
 * The Engine interface: one loaded model on one execution backend. Implementations:
 * ort.ts (onnxruntime-node CPU/CUDA) and tensorrt.ts (the native addon). select.ts picks one.
 */
export type EngineKind = 'tensorrt' | 'ort-cuda' | 'ort-cpu';

/**
 * When onnxruntime's intra-op threads busy-wait for work instead of sleeping (config model.spin, README
 * "Performance"): 'during-runs' spin inside a run and stop the moment it returns (onnxruntime's
 * session.force_spinning_stop); 'always' is onnxruntime's default, spinning on after a run, which saves the
 * next run a wake-up but burns a core per idle thread between frames; 'never' (intra_op.allow_spinning=0)
 * costs least CPU, but every parallel section of a run waits for its threads to wake.
 */
export const SPIN_MODES = ['during-runs', 'always', 'never'] as const;
export type SpinMode = (typeof SPIN_MODES)[number];
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

/**
 * What an engine reports about one run, written into the object the caller passes to run(): a run submitted
 * while another is in flight waits inside the engine, and only the engine knows when it really started.
 */
export interface RunTiming {
  /** performance.now() on the caller's clock when the engine started this run. */
  startedAt?: number;
  /** Milliseconds the engine spent on this run, its wait behind earlier runs excluded. */
  runMs?: number;
}

export interface Engine {
  readonly kind: EngineKind;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** True when runs submitted while one is in flight start in call order, each as soon as the previous ends. */
  readonly queuesRuns?: boolean;
  /**
   * Runs one batch; `input` is NCHW float32 matching inputs[0] with `dims`. Never blocks the JS thread.
   * Runs may be submitted while one is in flight (queuesRuns says whether they keep their order).
   */
  run(input: Float32Array, dims: number[], timing?: RunTiming): Promise<OutputTensor[]>;
  /**
   * Hands back the outputs of a finished run once the caller is done reading them: later runs may write
   * into their buffers instead of allocating (optional; the caller must not touch them afterwards).
   */
  recycle?(outputs: readonly OutputTensor[]): void;
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
