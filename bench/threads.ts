/**
 * Per-thread CPU of this process for `npm run bench`: /proc/self/task/<tid>/schedstat (ns on a CPU) grouped
 * by /proc/self/task/<tid>/comm. Node 20 names none of its threads, and onnxruntime's pool threads inherit
 * "node", so the bench names them itself (writing comm) as they appear: the threads born while a step runs
 * (the libuv pool's first use, a main-thread session's creation, the engine worker's start) are that step's.
 * Linux only; elsewhere every snapshot is empty and the figures say n/a.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseProcStat, parseSchedstat, threadGroup } from './stats.js';

const TASKS = '/proc/self/task';

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null; // the thread exited, or no /proc
  }
}

export function threadIds(): number[] {
  try {
    return readdirSync(TASKS)
      .map(Number)
      .filter((t) => Number.isInteger(t))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** Names threads (comm, 15 characters at most); a thread that is gone is skipped. */
export function nameThreads(tids: readonly number[], name: string): void {
  for (const t of tids) {
    if (t === process.pid) continue;
    try {
      writeFileSync(`${TASKS}/${t}/comm`, name.slice(0, 15));
    } catch {
      // gone, or not allowed: it keeps its name and is counted as "node (other)"
    }
  }
}

/** Runs `step` and returns the threads that appeared meanwhile (ascending ids). */
export async function bornDuring(step: () => Promise<unknown> | unknown): Promise<number[]> {
  const before = new Set(threadIds());
  await step();
  return threadIds().filter((t) => !before.has(t));
}

export type ThreadSnapshot = Map<number, { group: string; runNs: number }>;

export function snapshotThreads(): ThreadSnapshot {
  const out: ThreadSnapshot = new Map();
  for (const tid of threadIds()) {
    const comm = read(`${TASKS}/${tid}/comm`);
    const ss = read(`${TASKS}/${tid}/schedstat`);
    const parsed = ss === null ? null : parseSchedstat(ss);
    if (comm === null || !parsed) continue;
    out.set(tid, { group: threadGroup(comm, tid === process.pid), runNs: parsed.runNs });
  }
  return out;
}

export function readProcStat(): { idle: number; total: number } | null {
  const t = read('/proc/stat');
  return t === null ? null : parseProcStat(t);
}
