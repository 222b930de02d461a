/**
 * The pure parts of `npm run bench` (bench/run.ts): quantiles and per-round ratio statistics, /proc parsing
 * (per-thread schedstat, thread-name groups, /proc/stat idle) and the BENCHMARKS.md table rewrite. No I/O here,
 * so test/unit/bench-stats.test.ts can check them on fixed text.
 */

/** Linear-interpolated quantile (type 7, numpy's default) of unsorted values; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export interface Spread {
  median: number;
  q1: number;
  q3: number;
  n: number;
}

/** Median and interquartile range of values (rounds); non-finite values are left out and not counted. */
export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x));
  return { median: quantile(v, 0.5), q1: quantile(v, 0.25), q3: quantile(v, 0.75), n: v.length };
}

/**
 * Per-round ratios num[i] / den[i] and their spread. Rounds where either side is missing or the
 * denominator is not positive are skipped: a ratio of medians would hide the drift that pairing cancels.
 */
export function ratioSpread(num: readonly number[], den: readonly number[]): Spread & { ratios: number[] } {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(num.length, den.length); i++) {
    if (Number.isFinite(num[i]) && Number.isFinite(den[i]) && den[i] > 0) ratios.push(num[i] / den[i]);
  }
  return { ...spread(ratios), ratios };
}

/** Block order for a round: the list rotated by the round number, so each block takes every position in turn. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const k = ((round % n) + n) % n;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** /proc/<pid>/task/<tid>/schedstat: "<ns on cpu> <ns waiting on a runqueue> <timeslices>". */
export interface Schedstat {
  runNs: number;
  waitNs: number;
  slices: number;
}

export function parseSchedstat(text: string): Schedstat | null {
  const f = text.trim().split(/\s+/);
  if (f.length < 3) return null;
  const [run, wait, slices] = f.map(Number);
  if (![run, wait, slices].every((x) => Number.isFinite(x) && x >= 0)) return null;
  return { runNs: run, waitNs: wait, slices };
}

/** Thread names bench/threads.ts gives the threads it identifies (Node 20 leaves all of its own named "node"). */
export const THREAD_NAMES = {
  platform: 'node-platform',
  libuv: 'libuv-worker',
  ortMainPool: 'ort-pool-main',
  ortWorker: 'ort-worker',
  ortEnginePool: 'ort-pool-engine',
} as const;

/** The group a thread's CPU is counted under, from its name (/proc/.../comm, at most 15 characters). */
export function threadGroup(comm: string, isMain: boolean): string {
  const c = comm.trim();
  if (isMain) return 'main';
  if (c === THREAD_NAMES.libuv) return 'libuv pool';
  if (c === THREAD_NAMES.platform) return 'node platform';
  if (c === THREAD_NAMES.ortEnginePool) return 'ort pool (engine)';
  if (c === THREAD_NAMES.ortMainPool) return 'ort pool (main-thread sessions)';
  // The worker calls session.run: onnxruntime runs one share of the intra-op work on the calling thread.
  if (c === THREAD_NAMES.ortWorker) return 'engine worker (runs inference too)';
  if (/^libvips|^vips/.test(c)) return 'libvips';
  return c === 'node' ? 'node (other)' : `other (${c})`;
}

/** Per-thread CPU ns between two snapshots (tid -> { comm, runNs }); threads born meanwhile count from 0. */
export function cpuByGroup(before: ReadonlyMap<number, { group: string; runNs: number }>, after: ReadonlyMap<number, { group: string; runNs: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, a] of after) {
    const b = before.get(tid);
    const d = a.runNs - (b && b.group === a.group ? b.runNs : 0);
    if (d > 0) out[a.group] = (out[a.group] ?? 0) + d;
  }
  // A thread that exited meanwhile took its last ns with it: those are lost, not negative.
  return out;
}

/** The aggregate "cpu" line of /proc/stat in clock ticks: idle (idle + iowait) and total. */
export function parseProcStat(text: string): { idle: number; total: number } | null {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return null;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return null;
  // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already in user/nice.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle: f[3] + (f[4] ?? 0), total };
}

/** Whole-machine idle fraction between two /proc/stat readings; NaN when no tick passed. */
export function idleFraction(a: { idle: number; total: number }, b: { idle: number; total: number }): number {
  const dt = b.total - a.total;
  return dt > 0 ? (b.idle - a.idle) / dt : NaN;
}

export const TABLE_START = '<!-- bench:table:start (written by npm run bench; edits inside are replaced) -->';
export const TABLE_END = '<!-- bench:table:end -->';

/**
 * BENCHMARKS.md with the section between the markers replaced by `section`; text outside them is kept.
 * Without markers the section is appended (a new file gets a title first).
 */
export function rewriteTableSection(md: string, section: string): string {
  const body = `${TABLE_START}\n${section.trim()}\n${TABLE_END}`;
  const start = md.indexOf(TABLE_START);
  const end = start >= 0 ? md.indexOf(TABLE_END, start) : -1;
  if (start >= 0 && end >= 0) return md.slice(0, start) + body + md.slice(end + TABLE_END.length);
  const head = md.trim().length > 0 ? `${md.replace(/\s*$/, '')}\n\n` : '# Benchmarks\n\n';
  return `${head}${body}\n`;
}

/** "0.93× (0.90–0.96)" for a ratio spread; "n/a" when no round gave one. */
export function fmtRatio(s: Spread, digits = 2): string {
  if (s.n === 0 || !Number.isFinite(s.median)) return 'n/a';
  return `${s.median.toFixed(digits)}× (${s.q1.toFixed(digits)}–${s.q3.toFixed(digits)})`;
}

/** A markdown table from a header and rows. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
