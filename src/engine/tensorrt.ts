// Placeholder until the native engineer lands the TensorRT backend.
import { InspectdError, ErrorCodes } from '../errors.js';
import type { Engine } from './engine.js';

export interface TensorRtEngineOptions {
  onnxPath: string;
  cacheDir: string;
}

export async function createTensorRtEngine(_opts: TensorRtEngineOptions): Promise<Engine> {
  throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, 'TensorRT backend is not built into this addon');
}
