/** Native one-pass letterbox (native/preprocess.cc): Frame -> NCHW float32 RGB tensor off the JS thread. */
import type { Frame } from '../contracts/frame.js';
import type { RawPreprocessor } from '../contracts/detector.js';
import type { LetterboxInfo } from '../contracts/vision.js';
import { errorMessage } from '../errors.js';
import { loadNativeAddon, tryLoadNativeAddon, type NativeAddon } from './loader.js';

export interface NativePreprocessOptions {
  /**
   * Reuse one output tensor per destination size instead of allocating each call. Only safe when the
   * caller is done with the previous tensor before the next call (one frame in flight per preprocessor).
   */
  reuseOutput?: boolean;
}

/** null when the addon is not built (the caller falls back to sharp + JS). */
export function createNativePreprocessor(opts: NativePreprocessOptions = {}): RawPreprocessor | null {
  const addon = tryLoadNativeAddon();
  return addon ? nativePreprocessorFrom(addon, opts) : null;
}

/** The native preprocessor, or why there is none (the addon's load error, for the fallback's log line). */
export function loadNativePreprocessor(opts: NativePreprocessOptions = {}): { preprocessor: RawPreprocessor; reason?: undefined } | { preprocessor: null; reason: string } {
  try {
    return { preprocessor: nativePreprocessorFrom(loadNativeAddon('inspectd_native'), opts) };
  } catch (err) {
    return { preprocessor: null, reason: errorMessage(err) };
  }
}

export function nativePreprocessorFrom(addon: NativeAddon, opts: NativePreprocessOptions = {}): RawPreprocessor {
  let reuse: Float32Array | undefined;
  return async (frame, dstW, dstH, given) => {
    let out = given;
    if (!out && opts.reuseOutput) {
      if (!reuse || reuse.length !== 3 * dstW * dstH) reuse = new Float32Array(3 * dstW * dstH);
      out = reuse;
    }
    const r = await addon.preprocess(frame.data, frame.width, frame.height, frame.stride ?? 0, frame.format, dstW, dstH, false, out);
    return {
      tensor: r.tensor as Float32Array,
      info: {
        scale: r.scale,
        padX: r.padX,
        padY: r.padY,
        srcWidth: frame.width,
        srcHeight: frame.height,
        dstWidth: dstW,
        dstHeight: dstH,
      },
    };
  };
}

/** FP16 variant for engines with half inputs: the tensor holds IEEE binary16 bit patterns. */
export async function nativePreprocessFp16(addon: NativeAddon, frame: Frame, dstW: number, dstH: number, out?: Uint16Array): Promise<{ tensor: Uint16Array; info: LetterboxInfo }> {
  const r = await addon.preprocess(frame.data, frame.width, frame.height, frame.stride ?? 0, frame.format, dstW, dstH, true, out);
  return {
    tensor: r.tensor as Uint16Array,
    info: {
      scale: r.scale,
      padX: r.padX,
      padY: r.padY,
      srcWidth: frame.width,
      srcHeight: frame.height,
      dstWidth: dstW,
      dstHeight: dstH,
    },
  };
}
