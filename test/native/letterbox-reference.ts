/**
 * Straightforward reference letterbox for the native tests: Ultralytics geometry (Python rounding) and
 * OpenCV INTER_LINEAR sampling (half-pixel centres, edge clamp), written for clarity, not speed.
 */
export interface RefFrame {
  data: Uint8Array;
  width: number;
  height: number;
  stride: number;
  format: 'rgb24' | 'bgr24' | 'gray8';
}

/** Python 3 round(): half to even. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function refGeometry(w: number, h: number, dstW: number, dstH: number) {
  const scale = Math.min(dstH / h, dstW / w);
  // At least one pixel: Ultralytics would hand cv2.resize a zero size for extreme aspect ratios.
  const newWidth = Math.max(1, pyRound(w * scale));
  const newHeight = Math.max(1, pyRound(h * scale));
  const dw = (dstW - newWidth) / 2;
  const dh = (dstH - newHeight) / 2;
  return { scale, newWidth, newHeight, padX: pyRound(dw - 0.1), padY: pyRound(dh - 0.1) };
}

function taps(src: number, dst: number, d: number): [number, number, number] {
  let f = (d + 0.5) * (src / dst) - 0.5;
  let s = Math.floor(f);
  f -= s;
  if (s < 0) {
    s = 0;
    f = 0;
  }
  if (s >= src - 1) {
    s = src - 1;
    f = 0;
  }
  return [s, Math.min(s + 1, src - 1), f];
}

export function refLetterbox(frame: RefFrame, dstW: number, dstH: number): Float32Array {
  const g = refGeometry(frame.width, frame.height, dstW, dstH);
  const out = new Float32Array(3 * dstW * dstH).fill(114 / 255);
  const cn = frame.format === 'gray8' ? 1 : 3;
  const px = (x: number, y: number, c: number): number => {
    const sc = cn === 1 ? 0 : frame.format === 'bgr24' ? 2 - c : c;
    return frame.data[y * frame.stride + x * cn + sc];
  };
  for (let y = 0; y < g.newHeight; y++) {
    const [y0, y1, fy] = taps(frame.height, g.newHeight, y);
    for (let x = 0; x < g.newWidth; x++) {
      const [x0, x1, fx] = taps(frame.width, g.newWidth, x);
      for (let c = 0; c < 3; c++) {
        const v = px(x0, y0, c) * (1 - fx) * (1 - fy) + px(x1, y0, c) * fx * (1 - fy) + px(x0, y1, c) * (1 - fx) * fy + px(x1, y1, c) * fx * fy;
        out[c * dstW * dstH + (y + g.padY) * dstW + (x + g.padX)] = v / 255;
      }
    }
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = s & 255;
  }
  return a;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
