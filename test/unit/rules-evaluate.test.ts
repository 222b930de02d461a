import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRules } from '../../src/rules/rules.js';
import { rejectKey, rejectReason, rejectClassesOf } from '../../src/rules/reject.js';
import { pointInPolygon, zoneOf } from '../../src/rules/zones.js';
import type { RulesConfig } from '../../src/config/types.js';
import type { Detection } from '../../src/contracts/vision.js';

const det = (cls: string, classId: number, confidence: number, x1: number, y1: number, x2: number, y2: number): Detection => ({
  class: cls,
  classId,
  confidence,
  box: { x1, y1, x2, y2 },
});
const rules = (r: Partial<RulesConfig> = {}): RulesConfig => ({ rejectClasses: [], classConf: {}, minBoxArea: 0, zones: [], ...r });

test('pointInPolygon: square, concave L shape, outside', () => {
  const sq: [number, number][] = [
    [0, 0],
    [10, 0],
    [10, 10],
    [0, 10],
  ];
  assert.equal(pointInPolygon(5, 5, sq), true);
  assert.equal(pointInPolygon(15, 5, sq), false);
  assert.equal(pointInPolygon(-1, -1, sq), false);
  const L: [number, number][] = [
    [0, 0],
    [10, 0],
    [10, 4],
    [4, 4],
    [4, 10],
    [0, 10],
  ];
  assert.equal(pointInPolygon(2, 8, L), true);
  assert.equal(pointInPolygon(8, 8, L), false, 'the notch of the L is outside');
  assert.equal(pointInPolygon(8, 2, L), true);
});

test('zones: the box centre decides, not the box overlap', () => {
  const zones = [
    {
      name: 'left',
      polygon: [
        [0, 0],
        [100, 0],
        [100, 100],
        [0, 100],
      ] as [number, number][],
    },
  ];
  assert.equal(zoneOf({ x1: 80, y1: 10, x2: 180, y2: 20 }, zones)?.name, undefined, 'centre x=130 is outside');
  assert.equal(zoneOf({ x1: 10, y1: 10, x2: 150, y2: 20 }, zones)?.name, 'left', 'centre x=80 is inside');
  const r = evaluateRules([det('a', 0, 0.9, 80, 10, 180, 20), det('a', 0, 0.9, 10, 10, 150, 20)], rules({ zones }));
  assert.equal(r.kept.length, 1);
  assert.equal(r.kept[0].box.x1, 10);
});

test('per-class thresholds by name or id; other classes pass', () => {
  const dets = [det('scratch', 1, 0.5, 0, 0, 10, 10), det('scratch', 1, 0.8, 0, 0, 10, 10), det('dent', 2, 0.3, 0, 0, 10, 10), det('ok', 0, 0.3, 0, 0, 10, 10)];
  const r = evaluateRules(dets, rules({ classConf: { scratch: 0.6, '2': 0.4 } }));
  assert.deepEqual(
    r.kept.map((d) => `${d.class}:${d.confidence}`),
    ['scratch:0.8', 'ok:0.3'],
  );
});

test('minBoxArea drops small boxes', () => {
  const r = evaluateRules([det('a', 0, 0.9, 0, 0, 5, 5), det('a', 0, 0.9, 0, 0, 20, 20)], rules({ minBoxArea: 100 }));
  assert.deepEqual(
    r.kept.map((d) => d.box.x2),
    [20],
  );
});

test('reject causes: only kept detections of reject classes (name or id)', () => {
  const dets = [det('scratch', 1, 0.9, 0, 0, 10, 10), det('ok', 0, 0.9, 0, 0, 10, 10), det('dent', 2, 0.2, 0, 0, 10, 10), det('hole', 3, 0.7, 0, 0, 10, 10)];
  const r = evaluateRules(dets, rules({ rejectClasses: ['scratch', 'dent', '3'], classConf: { dent: 0.5 } }));
  assert.deepEqual(
    r.rejectCauses.map((d) => d.class),
    ['scratch', 'hole'],
  );
  assert.equal(r.kept.length, 3);
});

test('empty class names are filled from the model names', () => {
  const r = evaluateRules([det('', 4, 0.9, 0, 0, 10, 10)], rules({ rejectClasses: ['crack'] }), ['a', 'b', 'c', 'd', 'crack']);
  assert.equal(r.rejectCauses[0]?.class, 'crack');
});

test('rejectKey: seq or trigger form', () => {
  assert.equal(rejectKey('edge1', 'cam1', '3-42'), 'edge1:cam1:seq:3-42');
  assert.equal(rejectKey('edge1', 'cam1', '3-42', 'PART-7'), 'edge1:cam1:trigger:PART-7');
  assert.equal(rejectKey('edge1', 'cam1', '3-42', ''), 'edge1:cam1:seq:3-42');
});

test('rejectReason and classes summarise per class', () => {
  const causes = [det('scratch', 1, 0.61, 0, 0, 1, 1), det('dent', 2, 0.9, 0, 0, 1, 1), det('scratch', 1, 0.93, 0, 0, 1, 1)];
  assert.equal(rejectReason(causes), 'reject: scratch ×2 (best 0.93), dent (0.90)');
  assert.deepEqual(rejectClassesOf(causes), ['scratch', 'dent']);
  assert.equal(rejectReason([]), 'no reject');
});
