/** Writes engines in the stand-in format (native/trt_standin/FORMAT.md) for the native tests. */
export interface StandinTensor {
  name: string;
  mode: 'input' | 'output';
  dtype: 'float32' | 'float16';
  dims: number[];
  /** Inputs: profile max per dim (defaults to dims, 64 where dynamic). */
  maxDims?: number[];
}

export const FN_AFFINE = 0; // output k = input * 2 + 1 + k
export const FN_CHANNEL_SUM = 1; // output [N, C] = sum over trailing dims

export function standinEngine(fn: number, tensors: StandinTensor[]): Buffer {
  const parts: Buffer[] = [Buffer.from('INSPTRT1', 'latin1')];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const i64s = (v: number[]) => {
    const b = Buffer.alloc(8 * v.length);
    v.forEach((x, i) => {
      b.writeBigInt64LE(BigInt(x), i * 8);
    });
    return b;
  };
  parts.push(u32(fn), u32(tensors.length));
  for (const t of tensors) {
    const name = Buffer.from(t.name, 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt8(t.mode === 'input' ? 1 : 2, 0);
    head.writeUInt8(t.dtype === 'float16' ? 1 : 0, 1);
    head.writeUInt16LE(name.length, 2);
    parts.push(head, name, u32(t.dims.length), i64s(t.dims));
    if (t.mode === 'input') parts.push(i64s(t.maxDims ?? t.dims.map((d) => (d < 0 ? 64 : d))));
  }
  return Buffer.concat(parts);
}
