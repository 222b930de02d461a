/**
 * What a fault test did, for the summary table `npm run test:faults` prints (bench/faults-summary.ts): each
 * test appends one JSON line of its counts to INSPECTD_FAULTS_RESULTS (default test-output/faults/results.jsonl).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoPath } from './fixtures.js';

export { mulberry32 as seededRandom } from '../../src/synth/scene.js';

export interface FaultRecord {
  /** The test's name. */
  test: string;
  /** Faults injected, by kind. */
  faults?: Record<string, number>;
  /** Bad inputs tried, by kind. */
  inputs?: Record<string, number>;
  /** Processes or threads that died unplanned (must be 0). */
  crashes?: number;
  /** Events (rejects, verdicts) the daemon decided, and how many distinct ones arrived. */
  produced?: number;
  delivered?: number;
  /** Deliveries of a key that had arrived already (QoS 1 is at least once). */
  repeats?: number;
  /** The longest time from the end of a fault to service again, ms. */
  maxRecoveryMs?: number;
}

export function faultResultsFile(): string {
  return process.env.INSPECTD_FAULTS_RESULTS ?? repoPath('test-output', 'faults', 'results.jsonl');
}

export function recordFaults(r: FaultRecord): void {
  const file = faultResultsFile();
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, JSON.stringify({ ...r, at: new Date().toISOString() }) + '\n');
}

/** INSPECTD_FAULTS_LONG=1: the opt-in long run (more cycles, more inputs, random seeds). */
export const FAULTS_LONG = process.env.INSPECTD_FAULTS_LONG === '1';

/** The seed for this run: fixed unless INSPECTD_FAULTS_LONG (then random, and printed so a failure can be replayed with INSPECTD_FAULTS_SEED). */
export function faultSeed(fixed: number): number {
  if (process.env.INSPECTD_FAULTS_SEED) return Number(process.env.INSPECTD_FAULTS_SEED);
  return FAULTS_LONG ? Math.floor(Math.random() * 2 ** 31) : fixed;
}

export function bump(counts: Record<string, number>, kind: string, n = 1): void {
  counts[kind] = (counts[kind] ?? 0) + n;
}
