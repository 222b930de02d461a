export { evaluateRules, type RulesResult } from './rules.js';
export { rejectKey, rejectReason, rejectClassesOf } from './reject.js';
export { pointInPolygon, zoneOf, boxCentre } from './zones.js';
