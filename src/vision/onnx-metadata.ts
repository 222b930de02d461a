/**
 * Reads ONNX `metadata_props` straight from the protobuf bytes, without decoding the graph:
 * the top-level ModelProto fields are walked by wire type and the big ones (graph) skipped by length.
 */
import { readFile } from 'node:fs/promises';
import { InspectdError, ErrorCodes } from '../errors.js';

const MODEL_GRAPH = 7;
const MODEL_METADATA_PROPS = 14;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

interface Cursor {
  buf: Uint8Array;
  pos: number;
}

function malformed(what: string): InspectdError {
  return new InspectdError(ErrorCodes.MODEL_INVALID, `not a valid ONNX model (${what}); check that the file is a complete .onnx export and not truncated or another format`);
}

/** Varints up to 2^53 (lengths and field numbers); larger values are only ever skipped. */
function readVarint(c: Cursor): number {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.buf.length) throw malformed('truncated varint');
    const b = c.buf[c.pos++];
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return result;
    mul *= 128;
  }
  throw malformed('varint too long');
}

function skipField(c: Cursor, wireType: number): void {
  switch (wireType) {
    case 0:
      readVarint(c);
      return;
    case 1:
      c.pos += 8;
      break;
    case 2: {
      const len = readVarint(c); // not `c.pos += readVarint(c)`: that adds to the position before the varint
      c.pos += len;
      break;
    }
    case 5:
      c.pos += 4;
      break;
    default:
      throw malformed(`unsupported protobuf wire type ${wireType}`);
  }
  if (c.pos > c.buf.length) throw malformed('field runs past the end of the file');
}

const utf8 = new TextDecoder('utf-8');

function parseEntry(buf: Uint8Array): [string, string] {
  const c: Cursor = { buf, pos: 0 };
  let key = '';
  let value = '';
  while (c.pos < buf.length) {
    const tag = readVarint(c);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2 && (field === ENTRY_KEY || field === ENTRY_VALUE)) {
      const len = readVarint(c);
      if (c.pos + len > buf.length) throw malformed('metadata entry runs past its end');
      const s = utf8.decode(buf.subarray(c.pos, c.pos + len));
      c.pos += len;
      if (field === ENTRY_KEY) key = s;
      else value = s;
    } else {
      skipField(c, wire);
    }
  }
  return [key, value];
}

/** metadata_props of an ONNX ModelProto held in memory. Throws MODEL_INVALID if the bytes are not a ModelProto with a graph. */
export function parseOnnxMetadata(buf: Uint8Array): Record<string, string> {
  const c: Cursor = { buf, pos: 0 };
  const props: Record<string, string> = {};
  let sawGraph = false;
  if (buf.length === 0) throw malformed('empty file');
  while (c.pos < buf.length) {
    const tag = readVarint(c);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw malformed('field number 0');
    if (field === MODEL_METADATA_PROPS && wire === 2) {
      const len = readVarint(c);
      if (c.pos + len > buf.length) throw malformed('metadata runs past the end of the file');
      const [k, v] = parseEntry(buf.subarray(c.pos, c.pos + len));
      props[k] = v;
      c.pos += len;
    } else {
      if (field === MODEL_GRAPH && wire === 2) sawGraph = true;
      skipField(c, wire);
    }
  }
  if (!sawGraph) throw malformed('no graph found');
  return props;
}

export async function readOnnxMetadata(modelPath: string): Promise<Record<string, string>> {
  return parseOnnxMetadata(await readFile(modelPath));
}

/**
 * Parses a Python literal as Ultralytics writes `names`: a dict `{0: 'person', 1: "it's"}` or a list
 * `['a', 'b']` (JSON-style double-quoted keys too). Returns names by id, or undefined if it cannot parse.
 */
export function parseNamesLiteral(text: string): string[] | undefined {
  let i = 0;
  const s = text.trim();
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const str = (): string | undefined => {
    const q = s[i];
    if (q !== "'" && q !== '"') return undefined;
    i++;
    let out = '';
    while (i < s.length) {
      const ch = s[i++];
      if (ch === q) return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const e = s[i++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'x':
        case 'u':
        case 'U': {
          const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          const hex = s.slice(i, i + n);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) return undefined;
          out += String.fromCodePoint(parseInt(hex, 16));
          i += n;
          break;
        }
        case undefined:
          return undefined;
        default:
          out += e; // \\ \' \" and anything else taken literally
      }
    }
    return undefined;
  };
  const key = (): number | undefined => {
    const quoted = s[i] === "'" || s[i] === '"';
    const raw = quoted ? str() : /^-?\d+/.exec(s.slice(i))?.[0];
    if (raw === undefined) return undefined;
    if (!quoted) i += raw.length;
    const n = Number(raw);
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  };
  ws();
  const open = s[i];
  if (open !== '{' && open !== '[') return undefined;
  const close = open === '{' ? '}' : ']';
  i++;
  const names: string[] = [];
  let next = 0;
  for (;;) {
    ws();
    if (s[i] === close) {
      i++;
      break;
    }
    let id = next;
    if (open === '{') {
      const k = key();
      if (k === undefined) return undefined;
      id = k;
      ws();
      if (s[i++] !== ':') return undefined;
      ws();
    }
    const v = str();
    if (v === undefined) return undefined;
    names[id] = v;
    next = id + 1;
    ws();
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === close) {
      i++;
      break;
    }
    return undefined;
  }
  ws();
  if (i !== s.length) return undefined;
  for (let k = 0; k < names.length; k++) if (names[k] === undefined) names[k] = `class${k}`;
  return names;
}
