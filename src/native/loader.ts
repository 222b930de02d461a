/**
 * Typed loader for the native addon (after sharp's lib/sharp.mjs): tries the build paths in order and
 * throws ONE actionable INSPECTD_ERR_NATIVE_MISSING listing what it tried.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { packageRoot } from '../util/package.js';
import type { OutputTensor, TensorSpec } from '../contracts/engine.js';

/** What each build/Release/<name>.node holds (binding.gyp). */
export interface AddonTypes {
  /** The production addon. */
  inspectd_native: NativeAddon;
  /** Tests only: the same code against the TensorRT/CUDA stand-in (native/trt_standin). */
  inspectd_trt_standin: NativeAddon;
  /** Tests only: helpers the production addon must not ship. */
  inspectd_test_native: NativeTestAddon;
  /** Tests and scripts/gpu-check.sh only, built where nvcc is: the CUDA letterbox kernel on its own. */
  inspectd_cuda_check: NativeCudaCheckAddon;
}

export type AddonName = keyof AddonTypes;

export interface NativeLetterbox {
  tensor: Float32Array | Uint16Array;
  scale: number;
  padX: number;
  padY: number;
  newWidth: number;
  newHeight: number;
}

/** What the addon says of an engine tensor: the contract's TensorSpec (-1 where dynamic), and profile bounds. */
export interface NativeTensorInfo extends TensorSpec {
  /** Inputs only: optimisation profile 0 bounds. */
  minShape?: number[];
  maxShape?: number[];
}

/** Where an engine's input is letterboxed: on the GPU by the CUDA kernel, or on the CPU then uploaded. */
export type LetterboxDevice = 'cuda' | 'cpu';

export interface NativeFrameRun {
  outputs: OutputTensor[];
  letterbox: Omit<NativeLetterbox, 'tensor'>;
  /** Which letterbox made this run's input. */
  letterboxOn: LetterboxDevice;
}

export interface NativeTrtEngine {
  load(engine: Uint8Array): Promise<void>;
  describe(): { inputs: NativeTensorInfo[]; outputs: NativeTensorInfo[] };
  run(input: Float32Array, dims: number[]): Promise<OutputTensor[]>;
  /**
   * Letterboxes a raw frame into the input binding (dims [1, 3, H, W]) and runs: on the GPU where the addon has
   * the CUDA kernel and it launches (the tensor never exists on the host), else on the CPU.
   */
  runFrame(data: Uint8Array, width: number, height: number, stride: number, format: string, dims: number[]): Promise<NativeFrameRun>;
  /** Which letterbox runFrame uses now and why; a failed kernel launch switches it to 'cpu' for good. */
  readonly inputLetterbox: { on: LetterboxDevice; reason: string };
  /** Throws INSPECTD_ERR_ENGINE_BUSY while load/run is in flight; idempotent otherwise. */
  dispose(): void;
  readonly inFlight: number;
}

export type NativeTensorRt =
  | { available: false; reason: string }
  | {
      available: true;
      version: string;
      standin: boolean;
      /** "8.7"; throws INSPECTD_ERR_ENGINE_UNAVAILABLE without a usable CUDA device. */
      computeCapability(): string;
      Engine: new () => NativeTrtEngine;
    };

export interface NativeAddon {
  preprocess(
    data: Uint8Array,
    width: number,
    height: number,
    stride: number,
    format: string,
    dstW: number,
    dstH: number,
    fp16: boolean,
    out?: Float32Array | Uint16Array,
  ): Promise<NativeLetterbox>;
  preprocessSync(
    data: Uint8Array,
    width: number,
    height: number,
    stride: number,
    format: string,
    dstW: number,
    dstH: number,
    fp16: boolean,
    out?: Float32Array | Uint16Array,
  ): NativeLetterbox;
  letterboxGeometry(srcW: number, srcH: number, dstW: number, dstH: number): Omit<NativeLetterbox, 'tensor'>;
  /** 0 on success, else an errno value. */
  sdNotify(socketPath: string, message: string): number;
  tensorrt: NativeTensorRt;
  /** Only in the stand-in build. */
  standinStats?: () => { deviceBytes: number; deviceAllocs: number; hostAllocs: number; liveObjects: number };
  /** Only in the stand-in build: bytes copied each way and stand-in kernel launches, since load. */
  standinTransfers?: () => { h2dBytes: number; d2hBytes: number; kernelLaunches: number };
}

/** inspectd_test_native (native/test_addon.cc): a unix datagram receiver, as Node cannot bind AF_UNIX SOCK_DGRAM. */
export interface NativeTestAddon {
  /** Binds a path or @abstract socket; the fd. Throws INSPECTD_ERR_USAGE on failure. */
  dgramBind(path: string): number;
  /** One datagram, or null after timeoutMs (blocks the calling thread meanwhile). */
  dgramRecv(fd: number, timeoutMs: number): string | null;
  dgramClose(fd: number): void;
}

export interface CudaDeviceInfo {
  available: boolean;
  /** Why the kernel cannot run here (no driver, no device), when not available. */
  reason?: string;
  /** "13.0"; the CUDA runtime the addon was linked against. */
  runtimeVersion: string;
  /** "12.4", or "none" without a driver. */
  driverVersion: string;
  deviceCount: number;
  name?: string;
  computeCapability?: string;
  memoryMiB?: number;
}

/** Mean milliseconds per frame of each step of the two ways an engine input can be made. */
export interface CudaLetterboxBench {
  iterations: number;
  /** CPU path: the one-thread letterbox of the production addon, then the tensor's upload from pinned memory. */
  cpuLetterboxMs: number;
  cpuTensorUploadMs: number;
  /** GPU path: the raw frame's upload from pageable memory, then the kernel. */
  gpuFrameUploadMs: number;
  gpuKernelMs: number;
  tensorBytes: number;
  frameBytes: number;
}

/** inspectd_cuda_check (native/cuda_check.cc): synchronous; throws INSPECTD_ERR_ENGINE_UNAVAILABLE without a GPU. */
export interface NativeCudaCheckAddon {
  device(): CudaDeviceInfo;
  letterbox(data: Uint8Array, width: number, height: number, stride: number, format: string, dstW: number, dstH: number, fp16: boolean): NativeLetterbox;
  /** The same output from the kernel's per-pixel code run on the CPU: checks nvcc's arithmetic without a GPU. */
  letterboxOnHost(data: Uint8Array, width: number, height: number, stride: number, format: string, dstW: number, dstH: number, fp16: boolean): NativeLetterbox;
  bench(data: Uint8Array, width: number, height: number, stride: number, format: string, dstW: number, dstH: number, fp16: boolean, iterations: number): CudaLetterboxBench;
}

const cache = new Map<AddonName, AddonTypes[AddonName]>();

export function loadNativeAddon(): NativeAddon;
export function loadNativeAddon<N extends AddonName>(name: N): AddonTypes[N];
export function loadNativeAddon(name: AddonName = 'inspectd_native'): AddonTypes[AddonName] {
  const hit = cache.get(name);
  if (hit) return hit;
  const root = packageRoot();
  const candidates = [
    ...(process.env.INSPECTD_NATIVE_DIR ? [path.join(process.env.INSPECTD_NATIVE_DIR, `${name}.node`)] : []),
    path.join(root, 'build', 'Release', `${name}.node`),
    path.join(root, 'build', 'Debug', `${name}.node`),
  ];
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      const addon = require(file) as AddonTypes[AddonName];
      cache.set(name, addon);
      return addon;
    } catch (err) {
      tried.push(`${file} (${errorMessage(err)})`);
    }
  }
  throw new InspectdError(
    ErrorCodes.NATIVE_MISSING,
    `the native addon ${name} could not be loaded; tried:\n  ${tried.join('\n  ')}\n` +
      `Build it with \`npm run build:native\` in ${root}; it needs python3, make and a C++17 compiler.`,
  );
}

/** Like loadNativeAddon, but null instead of throwing (for optional fast paths). */
export function tryLoadNativeAddon(): NativeAddon | null;
export function tryLoadNativeAddon<N extends AddonName>(name: N): AddonTypes[N] | null;
export function tryLoadNativeAddon(name: AddonName = 'inspectd_native'): AddonTypes[AddonName] | null {
  try {
    return loadNativeAddon(name);
  } catch {
    return null;
  }
}
