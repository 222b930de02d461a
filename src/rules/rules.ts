/**
 * Rules applied after decode+NMS: per-class thresholds, minimum box area, zones, then which of the
 * remaining detections mean "reject this part". Pure functions: the pipeline calls them per frame.
 */
import type { RulesConfig } from '../config/types.js';
import type { Detection } from '../contracts/vision.js';
import { zoneOf } from './zones.js';

export interface RulesResult {
  /** Detections that pass thresholds, area and zones: what the detections topic carries. */
  kept: Detection[];
  /** The kept detections whose class is a reject class: non-empty means reject. */
  rejectCauses: Detection[];
}

/** A class matches a list entry by name or by numeric id written as a string. */
function classKeyed<T>(map: Record<string, T>, det: Detection): T | undefined {
  const byName = map[det.class];
  return byName !== undefined ? byName : map[String(det.classId)];
}

/**
 * `names` is the model's class list; a detection whose class name is missing (labels shorter than the
 * model) is named from it when possible so rules written by name still match.
 */
export function evaluateRules(detections: readonly Detection[], rules: RulesConfig, names?: readonly string[]): RulesResult {
  const kept: Detection[] = [];
  const rejectCauses: Detection[] = [];
  const rejectSet = new Set(rules.rejectClasses);
  const hasClassConf = Object.keys(rules.classConf).length > 0;
  for (const d of detections) {
    const det = !d.class && names && names[d.classId] ? { ...d, class: names[d.classId] } : d;
    if (hasClassConf) {
      const min = classKeyed(rules.classConf, det);
      if (min !== undefined && det.confidence < min) continue;
    }
    if (rules.minBoxArea > 0) {
      const area = Math.max(0, det.box.x2 - det.box.x1) * Math.max(0, det.box.y2 - det.box.y1);
      if (area < rules.minBoxArea) continue;
    }
    if (rules.zones.length > 0 && zoneOf(det.box, rules.zones) === undefined) continue;
    kept.push(det);
    if (rejectSet.has(det.class) || rejectSet.has(String(det.classId))) rejectCauses.push(det);
  }
  return { kept, rejectCauses };
}
