/** `inspectd batch` output: JSON lines (resumable), optional CSV, a TTY-only progress bar and the summary. */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';

/** What identifies a line: the image path, or the video path and frame index. */
export function lineKey(image: string, frame?: number): string {
  return frame === undefined ? image : `${image}\u0000${frame}`;
}

export interface ResumeState {
  done: Set<string>;
  /** Failure lines already in the file: they are not retried but still make the exit code non-zero. */
  failures: { image: string; message: string }[];
  /** Bytes of a torn last line that were cut off. */
  truncatedBytes: number;
}

/**
 * Reads an existing --out file for --resume. A last line without its newline (the run was killed while
 * writing it) is cut off, so its input is done again; a complete line that is not JSON is an error (that is
 * not our file).
 */
export function readResume(file: string): ResumeState {
  const state: ResumeState = { done: new Set(), failures: [], truncatedBytes: 0 };
  if (!existsSync(file)) return state;
  const buf = readFileSync(file);
  const end = buf.lastIndexOf(0x0a) + 1;
  if (end < buf.length) {
    const fd = openSync(file, 'r+');
    try {
      ftruncateSync(fd, end);
    } finally {
      closeSync(fd);
    }
    state.truncatedBytes = buf.length - end;
  }
  const text = buf.subarray(0, end).toString('utf8');
  let n = 0;
  for (const line of text.split('\n')) {
    n++;
    if (line.trim() === '') continue;
    let j: { image?: unknown; frame?: unknown; error?: { message?: unknown } };
    try {
      j = JSON.parse(line);
    } catch {
      throw new InspectdError(ErrorCodes.USAGE, `--resume: ${file} line ${n} is not a JSON line of inspectd batch; pass another --out or drop --resume`);
    }
    if (typeof j.image !== 'string') throw new InspectdError(ErrorCodes.USAGE, `--resume: ${file} line ${n} has no "image"; pass another --out or drop --resume`);
    state.done.add(lineKey(j.image, typeof j.frame === 'number' ? j.frame : undefined));
    if (j.error) state.failures.push({ image: j.image, message: String(j.error.message ?? '') });
  }
  return state;
}

/** Appends whole lines with one write each, so a kill leaves at most the last line torn. */
export class LineFile {
  private fd: number | undefined;

  constructor(
    private readonly file: string | undefined,
    private readonly header?: string,
  ) {}

  open(append: boolean): void {
    if (this.file === undefined) return;
    try {
      const fresh = !append || !existsSync(this.file) || readFileSync(this.file).length === 0;
      this.fd = openSync(this.file, append ? 'a' : 'w');
      if (fresh && this.header) writeSync(this.fd, `${this.header}\n`);
    } catch (err) {
      throw new InspectdError(ErrorCodes.USAGE, `cannot write ${this.file}: ${errorMessage(err)}`, { cause: err });
    }
  }

  write(text: string): void {
    if (this.file === undefined) {
      process.stdout.write(text);
      return;
    }
    if (this.fd !== undefined && text !== '') writeSync(this.fd, text);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export const CSV_HEADER = 'image,frame,time,classId,class,confidence,x1,y1,x2,y2';

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRows(line: {
  image: string;
  frame?: number;
  time?: number | null;
  detections: { classId: number; class: string; confidence: number; box: { x1: number; y1: number; x2: number; y2: number } }[];
}): string {
  return line.detections
    .map((d) => [line.image, line.frame, line.time, d.classId, d.class, d.confidence, d.box.x1, d.box.y1, d.box.x2, d.box.y2].map(csvField).join(',') + '\n')
    .join('');
}

/** A one-line bar on stderr, redrawn at most 5 times a second; does nothing unless stderr is a TTY. */
export class Progress {
  private readonly enabled = process.stderr.isTTY === true;
  private readonly t0 = Date.now();
  private last = 0;
  private drawn = false;

  constructor(private total: number | undefined) {}

  addToTotal(n: number): void {
    if (this.total !== undefined) this.total += n;
  }

  unknownTotal(): void {
    this.total = undefined;
  }

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 200) return;
    this.last = now;
    const secs = (now - this.t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    let text = `${done}`;
    if (this.total !== undefined && this.total > 0) {
      const f = Math.min(1, done / this.total);
      const w = 24;
      const eta = rate > 0 ? Math.max(0, (this.total - done) / rate) : undefined;
      text = `[${'#'.repeat(Math.round(f * w)).padEnd(w, '-')}] ${done}/${this.total}`;
      text += ` ${rate.toFixed(1)}/s ETA ${eta === undefined ? '?' : `${Math.round(eta)}s`}`;
    } else text += ` ${rate.toFixed(1)}/s`;
    process.stderr.write(`\r${text}\u001b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) process.stderr.write('\r\u001b[K');
    this.drawn = false;
  }
}

export interface Summary {
  images: number;
  frames: number;
  skipped: number;
  byClass: Map<string, number>;
  seconds: number;
  failures: { image: string; message: string }[];
  earlierFailures: number;
}

export function summaryText(s: Summary): string {
  const done = s.images + s.frames;
  const dets = [...s.byClass.values()].reduce((a, b) => a + b, 0);
  const classes = [...s.byClass.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c, n]) => `${c} ${n}`);
  const lines = [
    `inspectd batch: ${s.images} image${s.images === 1 ? '' : 's'}, ${s.frames} video frame${s.frames === 1 ? '' : 's'}` +
      (s.skipped > 0 ? `, ${s.skipped} skipped (already in --out)` : '') +
      ` in ${s.seconds.toFixed(1)} s, ${(s.seconds > 0 ? done / s.seconds : 0).toFixed(1)} images/s`,
    `  detections: ${dets}${classes.length > 0 ? ` (${classes.join(', ')})` : ''}`,
  ];
  if (s.failures.length > 0 || s.earlierFailures > 0) {
    lines.push(`  failed: ${s.failures.length}${s.earlierFailures > 0 ? ` (and ${s.earlierFailures} in the resumed --out)` : ''}`);
    for (const f of s.failures.slice(0, 20)) lines.push(`    ${f.image}: ${f.message.replace(/\s*\n\s*/g, ' | ')}`);
    if (s.failures.length > 20) lines.push(`    ... ${s.failures.length - 20} more (the "error" lines of the output)`);
  }
  return lines.join('\n') + '\n';
}
