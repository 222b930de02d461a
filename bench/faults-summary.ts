/**
 * Prints the fault suite's table (`npm run test:faults` runs it after the suite): what each fault test
 * recorded (test/helpers/fault-results.ts: one JSON line per test in INSPECTD_FAULTS_RESULTS, default
 * test-output/faults/results.jsonl), totals by fault kind and by bad-input kind, crashes, events produced vs
 * delivered, the longest recovery; and the faults that other tests of `npm test` cover. Exits 1 when a crash
 * was counted, an event was lost, or nothing was recorded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { faultResultsFile, type FaultRecord } from '../test/helpers/fault-results.js';

/** Faults of issue 12 that tests outside test/faults/ already inject (counted here, not written again). */
const COVERED_ELSEWHERE: [string, string][] = [
  ['broker down 20 s during a stream', 'test/integration/daemon-outage.test.ts'],
  ['broker down while parts pass (verdicts)', 'test/integration/parts-outage.test.ts'],
  ['outbox on a full / read-only tmpfs', 'test/integration/outbox-tmpfs.test.ts, test/unit/outbox-disk.test.ts'],
  ['outbox process killed mid-write', 'test/unit/outbox-crash.test.ts'],
  ['SIGTERM while the CLI loads / while MQTT connects', 'test/integration/daemon-signals.test.ts'],
  ['a model that cannot load at start-up (waits, says why)', "test/integration/daemon-lifecycle.test.ts 'a model that cannot be loaded at start'"],
  ['onnxruntime worker thread dying (engine level, replacement backoff)', "test/unit/engine-ort.test.ts 'a worker that dies'; test/unit/engine-slot.test.ts"],
  ['a raw frame cut off mid-frame by its camera process', "test/unit/source-pipe-process.test.ts 'a trailing partial frame is not emitted'"],
  ['stall and frozen detection (unit, fake clock)', "test/unit/source-supervisor.test.ts 'stall', 'frozen'"],
  ['config, MQTT command and model-file fuzzing', 'test/unit/fuzz-config, fuzz-commands, fuzz-models .test.ts'],
];

function add(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function sum(o: Record<string, number> | undefined): number {
  return Object.values(o ?? {}).reduce((a, b) => a + b, 0);
}

function main(): number {
  const file = faultResultsFile();
  const records: FaultRecord[] = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as FaultRecord)
    : [];
  console.log(`\nFault suite summary (${records.length} records from ${file})\n`);
  if (records.length === 0) {
    console.log('no fault test recorded anything: run `npm run test:faults`');
    return 1;
  }
  const rows = [['test', 'faults', 'bad inputs', 'crashes', 'produced', 'delivered', 'repeats', 'max recovery ms']];
  const faults: Record<string, number> = {};
  const inputs: Record<string, number> = {};
  let crashes = 0;
  let produced = 0;
  let delivered = 0;
  let maxRecoveryMs = 0;
  let repeats = 0;
  for (const r of records) {
    add(faults, r.faults);
    add(inputs, r.inputs);
    crashes += r.crashes ?? 0;
    produced += r.produced ?? 0;
    delivered += r.delivered ?? 0;
    maxRecoveryMs = Math.max(maxRecoveryMs, r.maxRecoveryMs ?? 0);
    repeats += r.repeats ?? 0;
    const ev = (n: number | undefined) => (n === undefined ? '-' : String(n));
    rows.push([r.test, String(sum(r.faults)), String(sum(r.inputs)), String(r.crashes ?? 0), ev(r.produced), ev(r.delivered), ev(r.repeats), ev(r.maxRecoveryMs)]);
  }
  rows.push(['TOTAL', String(sum(faults)), String(sum(inputs)), String(crashes), String(produced), String(delivered), String(repeats), String(maxRecoveryMs)]);
  console.log(table(rows));
  const byKind = (title: string, o: Record<string, number>) => {
    console.log(`\n${title}`);
    const entries = Object.entries(o).sort((a, b) => b[1] - a[1]);
    console.log(entries.length ? table([['kind', 'count'], ...entries.map(([k, v]) => [k, String(v)])]) : '(none)');
  };
  byKind('Faults injected, by kind', faults);
  byKind('Bad inputs tried, by kind', inputs);
  console.log('\nCovered by other tests of `npm test` (not injected again here)');
  console.log(table([['fault', 'test'], ...COVERED_ELSEWHERE]));
  const problems: string[] = [];
  if (crashes > 0) problems.push(`${crashes} crash(es)`);
  if (produced !== delivered) problems.push(`${produced} events produced but ${delivered} delivered`);
  console.log(
    `\n${problems.length ? `FAILED: ${problems.join('; ')}` : `ok: 0 crashes, ${produced} events produced, ${delivered} delivered, longest recovery ${maxRecoveryMs} ms`}`,
  );
  return problems.length ? 1 : 0;
}

process.exitCode = main();
