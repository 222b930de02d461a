/**
 * The Engine interface: one loaded model on one execution backend. Implementations:
 * ort.ts (onnxruntime-node CPU/CUDA) and tensorrt.ts (the native addon). select.ts picks one.
 */
export type EngineKind = 'tensorrt' | 'ort-cuda' | 'ort-cpu';

/**
 * When onnxruntime's intra-op threads busy-wait for work instead of sleeping (config model.spin, README
 * "Performance"): 'briefly' spin inside a run and for at most SPIN_BRIEFLY_US after it (onnxruntime's
 * session.intra_op.spin_duration_us), long enough for a next run already queued, short against a camera's
 * frame interval; 'during-runs' stop the moment a run returns (session.force_spinning_stop); 'always' is
 * onnxruntime's default, spinning on after a run, which burns a core per idle thread between frames;
 * 'never' (intra_op.allow_spinning=0) costs least CPU, but every parallel section waits for its threads to wake.
 */
export const SPIN_MODES = ['during-runs', 'briefly', 'always', 'never'] as const;
export const SPIN_BRIEFLY_US = 1000;
/**
 * The default (config model.spin): no measurable throughput difference to 'briefly' or 'always' with a
 * camera faster than the engine on the 2-core build VM, under a third of 'always''s CPU per frame at 30 fps
 * (BENCHMARKS.md, the spin variants).
 */
export const DEFAULT_SPIN: SpinMode = 'during-runs';
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
  /** CPU threads a run uses, when the engine has that setting (onnxruntime's intra-op threads). */
  readonly intraOpThreads?: number;
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
