/**
 * Scores part verdicts against the synthetic conveyor's ground truth: each verdict is matched to the physical
 * part it is about (the part whose box in the deciding frame overlaps the verdict's box most), then counted
 * in a confusion table — defective parts rejected (true positives) or passed (misses), good parts passed or
 * rejected (false rejects) — with parts that got no verdict, parts that got more than one, and verdicts that
 * match no part.
 */
import type { Box } from '../contracts/vision.js';
import { buildConveyorSvg, conveyorParts, type ConveyorOptions, type ConveyorPart } from '../synth/conveyor.js';

/** What of a verdict the scoring needs (a VerdictPayload or a PublishedVerdict has it all). */
export interface ScoredVerdict {
  key: string;
  verdict: 'reject' | 'pass';
  failSafe: boolean;
  seq: number;
  box: Box;
}

export interface VerdictScore {
  /** Parts that crossed the whole view during the run (the ones scored). */
  parts: number;
  defective: number;
  good: number;
  /** Defective rejected / defective passed / good rejected / good passed, counting each part's first verdict. */
  truePositive: number;
  falseNegative: number;
  falsePositive: number;
  trueNegative: number;
  /** Scored parts without a verdict, and with more than one. */
  missing: number;
  duplicateParts: number;
  /** Verdicts whose key was already seen. */
  duplicateKeys: number;
  /** Verdicts no part could be found for (nothing in view there at that frame). */
  unmatched: number;
  failSafe: number;
  recall: number;
  falseRejectRate: number;
  /** Part id -> the keys of its verdicts (scored parts only). */
  byPart: Map<number, string[]>;
}

function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/**
 * Scores `verdicts` from a run of frames 0..lastSeq of the line (seed, opts). Parts still in view at the end
 * (or in view at frame 0) are left out: the run did not show them whole.
 */
export function scoreVerdicts(verdicts: readonly ScoredVerdict[], seed: number, opts: ConveyorOptions, lastSeq: number): VerdictScore {
  const truth = conveyorParts(seed, opts, lastSeq + 1);
  const scored = new Map<number, ConveyorPart>();
  for (const p of truth) if (p.firstFrame > 0 && p.lastFrame < lastSeq) scored.set(p.id, p);
  const byPart = new Map<number, string[]>();
  for (const id of scored.keys()) byPart.set(id, []);
  const first = new Map<number, ScoredVerdict>();
  const keys = new Set<string>();
  let duplicateKeys = 0;
  let unmatched = 0;
  let failSafe = 0;
  const views = new Map<number, ReturnType<typeof buildConveyorSvg>['parts']>();
  for (const v of verdicts) {
    if (keys.has(v.key)) duplicateKeys++;
    keys.add(v.key);
    if (v.failSafe) failSafe++;
    let inView = views.get(v.seq);
    if (!inView) {
      inView = buildConveyorSvg(seed, v.seq, opts).parts;
      views.set(v.seq, inView);
    }
    let best = -1;
    let bestIou = 0.3;
    for (const p of inView) {
      const o = iou(p.box, v.box);
      if (o > bestIou) {
        bestIou = o;
        best = p.id;
      }
    }
    if (best < 0) {
      unmatched++;
      continue;
    }
    const list = byPart.get(best);
    if (!list) continue; // a part the run did not show whole
    list.push(v.key);
    if (!first.has(best)) first.set(best, v);
  }
  let tp = 0;
  let fn = 0;
  let fp = 0;
  let tn = 0;
  let missing = 0;
  let duplicateParts = 0;
  let defective = 0;
  for (const [id, p] of scored) {
    if (p.defective) defective++;
    const list = byPart.get(id)!;
    if (list.length > 1) duplicateParts++;
    const v = first.get(id);
    if (!v) {
      missing++;
      if (p.defective) fn++;
      continue;
    }
    if (p.defective) {
      if (v.verdict === 'reject') tp++;
      else fn++;
    } else if (v.verdict === 'reject') fp++;
    else tn++;
  }
  const good = scored.size - defective;
  return {
    parts: scored.size,
    defective,
    good,
    truePositive: tp,
    falseNegative: fn,
    falsePositive: fp,
    trueNegative: tn,
    missing,
    duplicateParts,
    duplicateKeys,
    unmatched,
    failSafe,
    recall: defective ? tp / defective : 1,
    falseRejectRate: good ? fp / good : 0,
    byPart,
  };
}

/** The confusion table as people read it. */
export function formatVerdictScore(s: VerdictScore): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  return [
    `parts ${s.parts} (defective ${s.defective}, good ${s.good})`,
    `                 verdict reject   verdict pass/none`,
    `defective        ${String(s.truePositive).padStart(14)}   ${String(s.falseNegative).padStart(17)}`,
    `good             ${String(s.falsePositive).padStart(14)}   ${String(s.trueNegative + (s.good - s.falsePositive - s.trueNegative)).padStart(17)}`,
    `recall ${pct(s.recall)}, false rejects ${pct(s.falseRejectRate)}; parts without a verdict ${s.missing}, with two or more ${s.duplicateParts}; duplicate keys ${s.duplicateKeys}; verdicts matching no part ${s.unmatched}; fail-safe ${s.failSafe}`,
  ].join('\n');
}
