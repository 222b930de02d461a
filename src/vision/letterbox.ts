/**
 * Ultralytics-matching preprocessing: RGB, centred letterbox with gray 114 padding, /255, NCHW float32.
 *
 * The resize emulates OpenCV's cv2.resize INTER_LINEAR on uint8 (what the Ultralytics reference uses):
 * half-pixel centres, 11-bit fixed-point weights, and OpenCV's switch to INTER_AREA for an exact 2× shrink.
 * sharp's kernels were not used for the resize: libvips' reduce widens every kernel ('linear' included) by
 * the shrink factor, i.e. it antialiases when downscaling, which OpenCV's INTER_LINEAR does not; that
 * shifts scores of small objects. sharp still decodes (EXIF rotate, alpha, colourspace, bit depth).
 * The exception is an encoded image several times larger than the model input (decodeImageFor): there
 * libvips shrinks on load (JPEG DCT scaling) and resizes, because decoding every pixel of a 4K JPEG to
 * sample a 640 px letterbox costs more than the inference; README "Performance" gives the differences.
 */
import sharp, { type Sharp } from 'sharp';
import { InspectdError, ErrorCodes } from '../errors.js';
import type { Frame } from '../contracts/frame.js';
import type { LetterboxInfo } from '../contracts/vision.js';

export const PAD_VALUE = 114;

/** Python's round(): half to even. */
export function pyRound(x: number): number {
  let r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) r -= 1;
  return r + 0; // no negative zero (round(-0.1) pads must read 0)
}

export interface LetterboxGeometry extends LetterboxInfo {
  /** Size of the resized image inside the padded canvas. */
  newWidth: number;
  newHeight: number;
}

/** Ultralytics LetterBox (auto=False, scaleup=True, center=True). */
export function letterboxGeometry(srcWidth: number, srcHeight: number, dstWidth: number, dstHeight: number): LetterboxGeometry {
  if (!(srcWidth > 0 && srcHeight > 0)) throw new RangeError(`invalid source size ${srcWidth}x${srcHeight}`);
  const scale = Math.min(dstHeight / srcHeight, dstWidth / srcWidth);
  const newWidth = pyRound(srcWidth * scale);
  const newHeight = pyRound(srcHeight * scale);
  const dw = (dstWidth - newWidth) / 2;
  const dh = (dstHeight - newHeight) / 2;
  return {
    scale,
    padX: pyRound(dw - 0.1),
    padY: pyRound(dh - 0.1),
    srcWidth,
    srcHeight,
    dstWidth,
    dstHeight,
    newWidth,
    newHeight,
  };
}

const LUT = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();
const PAD = PAD_VALUE / 255;

/** Source channel offsets that give R, G, B. */
function channelMap(format: Frame['format']): [number, number, number, number] {
  switch (format) {
    case 'rgb24':
      return [3, 0, 1, 2];
    case 'bgr24':
      return [3, 2, 1, 0];
    case 'gray8':
      return [1, 0, 0, 0];
  }
}

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

interface AxisTable {
  ofs: Int32Array; // first source index
  w0: Int32Array; // fixed-point weight of ofs
  w1: Int32Array; // fixed-point weight of ofs+1 (ofs+1 clamped by the caller)
}

/** OpenCV's linear coefficient table for one axis (resize.cpp, INTER_LINEAR, uint8). */
function axisTable(src: number, dst: number): AxisTable {
  const scale = 1 / (dst / src); // as OpenCV: 1 / inv_scale
  const ofs = new Int32Array(dst);
  const w0 = new Int32Array(dst);
  const w1 = new Int32Array(dst);
  for (let d = 0; d < dst; d++) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      f = 0;
      s = 0;
    }
    if (s >= src - 1) {
      f = 0;
      s = src - 1;
    }
    ofs[d] = s;
    // saturate_cast<short>(x * 2048) rounds half away from zero for positives, as Math.round does here.
    w0[d] = Math.round((1 - f) * COEF_SCALE);
    w1[d] = Math.round(f * COEF_SCALE);
  }
  return { ofs, w0, w1 };
}

/** Writes a letterboxed NCHW float32 tensor of a packed-or-strided 8-bit image into `out`. */
export function letterboxInto(
  data: Uint8Array,
  width: number,
  height: number,
  format: Frame['format'],
  stride: number,
  dstW: number,
  dstH: number,
  out: Float32Array,
): LetterboxGeometry {
  const g = letterboxGeometry(width, height, dstW, dstH);
  const [ch, c0, c1, c2] = channelMap(format);
  const plane = dstW * dstH;
  if (out.length < 3 * plane) throw new RangeError(`tensor too small: ${out.length} < ${3 * plane}`);
  if (data.length < stride * (height - 1) + width * ch) {
    throw new InspectdError(ErrorCodes.IMAGE_UNREADABLE, `frame data too short for ${width}x${height} ${format} with stride ${stride}`);
  }
  out.fill(PAD, 0, 3 * plane);
  const nw = g.newWidth;
  const nh = g.newHeight;
  const base = g.padY * dstW + g.padX;
  const rOut = out.subarray(0, plane);
  const gOut = out.subarray(plane, 2 * plane);
  const bOut = out.subarray(2 * plane, 3 * plane);

  if (nw === width && nh === height) {
    for (let y = 0; y < nh; y++) {
      let s = y * stride;
      let d = base + y * dstW;
      for (let x = 0; x < nw; x++, s += ch, d++) {
        rOut[d] = LUT[data[s + c0]];
        gOut[d] = LUT[data[s + c1]];
        bOut[d] = LUT[data[s + c2]];
      }
    }
    return g;
  }

  if (width === 2 * nw && height === 2 * nh) {
    // OpenCV resizes an exact 2x shrink with INTER_AREA: the rounded mean of each 2x2 block.
    for (let y = 0; y < nh; y++) {
      const r0 = 2 * y * stride;
      const r1 = r0 + stride;
      let d = base + y * dstW;
      for (let x = 0, s = 0; x < nw; x++, s += 2 * ch, d++) {
        const a = r0 + s,
          b = r1 + s;
        rOut[d] = LUT[(data[a + c0] + data[a + ch + c0] + data[b + c0] + data[b + ch + c0] + 2) >> 2];
        gOut[d] = LUT[(data[a + c1] + data[a + ch + c1] + data[b + c1] + data[b + ch + c1] + 2) >> 2];
        bOut[d] = LUT[(data[a + c2] + data[a + ch + c2] + data[b + c2] + data[b + ch + c2] + 2) >> 2];
      }
    }
    return g;
  }

  const xt = axisTable(width, nw);
  const yt = axisTable(height, nh);
  // Horizontal pass results for two source rows, 3 channels interleaved, cached by source row.
  let rowA = new Int32Array(nw * 3);
  let rowB = new Int32Array(nw * 3);
  let rowAIdx = -1;
  let rowBIdx = -1;
  const hpass = (sy: number, dst: Int32Array) => {
    const r = sy * stride;
    for (let x = 0, o = 0; x < nw; x++, o += 3) {
      const sx = xt.ofs[x];
      const p0 = r + sx * ch;
      const p1 = sx + 1 < width ? p0 + ch : p0;
      const a = xt.w0[x],
        b = xt.w1[x];
      dst[o] = data[p0 + c0] * a + data[p1 + c0] * b;
      dst[o + 1] = data[p0 + c1] * a + data[p1 + c1] * b;
      dst[o + 2] = data[p0 + c2] * a + data[p1 + c2] * b;
    }
  };
  for (let y = 0; y < nh; y++) {
    const sy0 = yt.ofs[y];
    const sy1 = sy0 + 1 < height ? sy0 + 1 : sy0;
    if (rowAIdx !== sy0) {
      if (rowBIdx === sy0) {
        const t = rowA;
        rowA = rowB;
        rowB = t;
        rowAIdx = sy0;
        rowBIdx = -1;
      } else {
        hpass(sy0, rowA);
        rowAIdx = sy0;
      }
    }
    if (rowBIdx !== sy1) {
      hpass(sy1, rowB);
      rowBIdx = sy1;
    }
    const b0 = yt.w0[y],
      b1 = yt.w1[y];
    let d = base + y * dstW;
    for (let x = 0, o = 0; x < nw; x++, o += 3, d++) {
      // FixedPtCast as in OpenCV's VResizeLinear<uchar, int, short>.
      let v = (((b0 * (rowA[o] >> 4)) >> 16) + ((b1 * (rowB[o] >> 4)) >> 16) + 2) >> 2;
      rOut[d] = LUT[Math.min(v, 255)];
      v = (((b0 * (rowA[o + 1] >> 4)) >> 16) + ((b1 * (rowB[o + 1] >> 4)) >> 16) + 2) >> 2;
      gOut[d] = LUT[Math.min(v, 255)];
      v = (((b0 * (rowA[o + 2] >> 4)) >> 16) + ((b1 * (rowB[o + 2] >> 4)) >> 16) + 2) >> 2;
      bOut[d] = LUT[Math.min(v, 255)];
    }
  }
  return g;
}

function toInfo(g: LetterboxGeometry): LetterboxInfo {
  const { scale, padX, padY, srcWidth, srcHeight, dstWidth, dstHeight } = g;
  return { scale, padX, padY, srcWidth, srcHeight, dstWidth, dstHeight };
}

/** Pure-JS letterbox of a raw camera frame (rgb24, bgr24, gray8; any stride). */
export async function preprocessRaw(frame: Frame, dstW: number, dstH: number): Promise<{ tensor: Float32Array; info: LetterboxInfo }> {
  return preprocessRawSync(frame, dstW, dstH);
}

export function preprocessRawSync(frame: Frame, dstW: number, dstH: number, out?: Float32Array): { tensor: Float32Array; info: LetterboxInfo } {
  const ch = frame.format === 'gray8' ? 1 : 3;
  const stride = frame.stride ?? frame.width * ch;
  const tensor = out ?? new Float32Array(3 * dstW * dstH);
  const g = letterboxInto(frame.data, frame.width, frame.height, frame.format, stride, dstW, dstH, tensor);
  return { tensor, info: toInfo(g) };
}

export interface DecodedImage {
  data: Buffer;
  width: number;
  height: number;
  format: 'rgb24' | 'gray8';
}

/** sharp's input options for every decode here: errors are errors, and a 16k x 16k image is the most. */
const DECODE_OPTIONS = { failOn: 'error', limitInputPixels: 1 << 28 } as const;

/** Shrink factor (per axis) from which decodeImageFor lets libvips decode at reduced size and resize. */
export const DEFAULT_SHRINK_ON_LOAD_FACTOR = 3;

function unreadable(input: Buffer | string, err: unknown): InspectdError {
  const what = typeof input === 'string' ? input : `image (${input.length} bytes)`;
  return new InspectdError(ErrorCodes.IMAGE_UNREADABLE, `cannot decode ${what}: ${(err as Error).message}; expected a JPEG, PNG, WebP, TIFF or GIF file`, { cause: err });
}

/** The same conversions as decodeImage, on a pipeline that may also resize. */
async function decodeWith(pipeline: Sharp): Promise<DecodedImage> {
  const { data, info } = await pipeline
    .removeAlpha()
    .toColourspace('srgb')
    // OpenCV ignores embedded ICC profiles; converting through one (sharp's default) shifts pixel
    // values by up to 60 levels on the Ultralytics bus.jpg and moves scores off the reference.
    .keepIccProfile()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 && info.channels !== 1) throw new Error(`unexpected ${info.channels} channels after decoding`);
  return { data, width: info.width, height: info.height, format: info.channels === 1 ? 'gray8' : 'rgb24' };
}

/**
 * An encoded image decoded for a dstW x dstH letterbox. With `geometry`, libvips already resized it to the
 * letterbox's inner size (geometry.newWidth x newHeight, from the full EXIF-rotated size): pad it only, and
 * map boxes with geometry. Without, it is the full-size decode (decodeImage).
 */
export interface ImageForModel {
  image: DecodedImage;
  geometry?: LetterboxGeometry;
}

/**
 * Decodes an encoded image for a dstW x dstH letterbox. When the image is at least `minShrink` times the
 * letterbox's inner size on both axes, libvips decodes it shrunk (JPEG DCT scaling by 2, 4 or 8, WebP
 * scale) and resizes the rest with its cubic kernel (of linear, cubic, mitchell, lanczos3 and mks2021 the closest to the
 * reference on the 3x fixture scenes; `npm run bench:shrink` measures it against the reference): the full-size pixels are never produced. Otherwise,
 * and with minShrink Infinity, the full-size decode for the OpenCV-exact letterbox.
 */
export async function decodeImageFor(input: Buffer | string, dstW: number, dstH: number, minShrink: number): Promise<ImageForModel> {
  if (!Number.isFinite(minShrink)) return { image: await decodeImage(input) };
  let geometry: LetterboxGeometry;
  try {
    const meta = await sharp(input, DECODE_OPTIONS).metadata();
    let w = meta.width ?? 0;
    let h = meta.pageHeight ?? meta.height ?? 0;
    // EXIF orientations 5-8 turn the image by 90 degrees: the letterbox sees it turned.
    if ((meta.orientation ?? 1) >= 5) [w, h] = [h, w];
    if (!(w > 0 && h > 0)) throw new Error('no image size in the header');
    geometry = letterboxGeometry(w, h, dstW, dstH);
  } catch (err) {
    throw unreadable(input, err);
  }
  if (geometry.srcWidth < minShrink * geometry.newWidth || geometry.srcHeight < minShrink * geometry.newHeight) {
    return { image: await decodeImage(input) };
  }
  try {
    const image = await decodeWith(
      sharp(input, DECODE_OPTIONS)
        .rotate()
        // fastShrinkOnLoad: libjpeg scales by the largest power of two that stays above the target, libvips does the rest.
        .resize(geometry.newWidth, geometry.newHeight, { fit: 'fill', kernel: 'cubic', fastShrinkOnLoad: true }),
    );
    if (image.width !== geometry.newWidth || image.height !== geometry.newHeight) {
      throw new Error(`resized to ${image.width}x${image.height}, expected ${geometry.newWidth}x${geometry.newHeight}`);
    }
    return { image, geometry };
  } catch (err) {
    throw unreadable(input, err);
  }
}

/**
 * Decodes an encoded image (path or bytes) to 8-bit RGB as OpenCV's imread would see it:
 * EXIF orientation applied, alpha dropped (imread IMREAD_COLOR ignores it), ICC profile not applied,
 * grayscale/16-bit/CMYK to 8-bit sRGB.
 */
export async function decodeImage(input: Buffer | string): Promise<DecodedImage> {
  try {
    return await decodeWith(sharp(input, DECODE_OPTIONS).rotate());
  } catch (err) {
    throw unreadable(input, err);
  }
}

/** Encoded image -> letterboxed tensor; also returns the decoded (EXIF-rotated) size. */
export async function preprocessImage(input: Buffer | string, dstW: number, dstH: number): Promise<{ tensor: Float32Array; info: LetterboxInfo }> {
  const img = await decodeImage(input);
  const ch = img.format === 'gray8' ? 1 : 3;
  const tensor = new Float32Array(3 * dstW * dstH);
  const g = letterboxInto(img.data, img.width, img.height, img.format, img.width * ch, dstW, dstH, tensor);
  return { tensor, info: toInfo(g) };
}
