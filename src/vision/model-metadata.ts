/** Builds ModelMetadata from ONNX metadata_props, an optional labels file and the model's input shape. */
import { readFile } from 'node:fs/promises';
import { InspectdError, ErrorCodes } from '../errors.js';
import type { ModelMetadata } from '../contracts/vision.js';
import { parseNamesLiteral } from './onnx-metadata.js';

export const DEFAULT_IMGSZ = 640;

/** One class name per line; blank lines at the end are ignored, a `#` line is a comment. */
export async function loadLabelsFile(labelsPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(labelsPath, 'utf8');
  } catch (err) {
    throw new InspectdError(ErrorCodes.MODEL_LABELS, `cannot read labels file ${labelsPath}: ${(err as Error).message}`, { cause: err });
  }
  const labels = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  if (labels.length === 0) throw new InspectdError(ErrorCodes.MODEL_LABELS, `labels file ${labelsPath} has no class names (expected one per line)`);
  return labels;
}

function parseImgsz(v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const nums = v.match(/\d+/g)?.map(Number) ?? [];
  if (nums.length === 1 && nums[0] > 0) return [nums[0], nums[0]];
  if (nums.length >= 2 && nums[0] > 0 && nums[1] > 0) return [nums[0], nums[1]];
  return undefined;
}

function parseBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const t = v.trim().toLowerCase();
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  return undefined;
}

export interface BuildMetadataOptions {
  /** Names from a labels file: used when the metadata has none. */
  labels?: string[];
  /** Input shape from the engine, NCHW; -1 where dynamic. */
  inputShape?: readonly number[];
}

/**
 * The input size is the model's own static input shape when it has one (that is what the engine accepts,
 * so a 320 or 960 export works whatever its metadata says), else metadata `imgsz`, else 640.
 */
export function buildModelMetadata(raw: Record<string, string>, opts: BuildMetadataOptions = {}): ModelMetadata {
  const metaNames = raw.names !== undefined ? parseNamesLiteral(raw.names) : undefined;
  const names = metaNames && metaNames.length > 0 ? metaNames : opts.labels ? [...opts.labels] : [];
  const shape = opts.inputShape;
  let imgsz: [number, number] | undefined;
  if (shape && shape.length === 4 && shape[2] > 0 && shape[3] > 0) imgsz = [shape[2], shape[3]];
  imgsz ??= parseImgsz(raw.imgsz) ?? [DEFAULT_IMGSZ, DEFAULT_IMGSZ];
  const strideNum = raw.stride !== undefined ? Number(raw.stride.trim()) : NaN;
  const meta: ModelMetadata = { names, imgsz, raw: { ...raw } };
  if (Number.isFinite(strideNum) && strideNum > 0) meta.stride = strideNum;
  if (raw.task !== undefined) meta.task = raw.task;
  const e2e = parseBool(raw.end2end);
  if (e2e !== undefined) meta.end2end = e2e;
  return meta;
}

/** True when the names came from the file's own metadata (so a labels file was not needed). */
export function hasMetadataNames(raw: Record<string, string>): boolean {
  return raw.names !== undefined && (parseNamesLiteral(raw.names)?.length ?? 0) > 0;
}

/** The class name for an id; ids past the known names read "class<N>". */
export function className(names: readonly string[], id: number): string {
  return names[id] ?? `class${id}`;
}
