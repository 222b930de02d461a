/** Well-formed pipeline messages for sink tests: every field set, the ones a test cares about overridden. */
import type { DetectionsPayload, RejectPayload, VerdictPayload } from '../../src/contracts/messages.js';

export function rejectPayload(over: Partial<RejectPayload> & Pick<RejectPayload, 'key' | 'captureWall'>): RejectPayload {
  return {
    device: 'dev1',
    camera: 'cam1',
    seq: 1,
    captureTime: new Date(over.captureWall).toISOString(),
    decidedAt: new Date(over.captureWall + 5).toISOString(),
    reason: 'scratch 0.90',
    classes: ['scratch'],
    detections: [{ class: 'scratch', classId: 0, confidence: 0.9, box: { x1: 1, y1: 2, x2: 30, y2: 40 } }],
    deadlineMs: 200,
    latencyMs: 12.5,
    deadlineMet: true,
    ...over,
  };
}

export function detectionsPayload(over: Partial<DetectionsPayload> = {}): DetectionsPayload {
  return {
    frameId: 'cam1:1',
    seq: 1,
    camera: 'cam1',
    device: 'dev1',
    captureTime: new Date(0).toISOString(),
    width: 64,
    height: 48,
    latency: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 0.5, queueMs: 0, totalMs: 3.5 },
    deadlineMs: 200,
    deadlineMet: true,
    engine: 'ort-cpu',
    detections: [],
    ...over,
  };
}

export function verdictPayload(over: Partial<VerdictPayload> & Pick<VerdictPayload, 'key' | 'captureWall'>): VerdictPayload {
  const at = (ms: number) => new Date(over.captureWall + ms).toISOString();
  return {
    device: 'dev1',
    camera: 'cam1',
    partId: over.key.split(':').at(-1) ?? '1-1',
    verdict: 'reject',
    reason: 'reject: scratch in 3 of 9 frames (best 0.91)',
    failSafe: false,
    decidedBy: 'line',
    framesSeen: 9,
    framesMissed: 0,
    firstSeen: at(-300),
    lastSeen: at(0),
    classes: ['scratch'],
    detections: [{ class: 'scratch', classId: 0, confidence: 0.91, box: { x1: 1, y1: 2, x2: 30, y2: 40 }, frames: 3, seq: 5 }],
    evidence: { seq: 5, captureTime: at(-100) },
    box: { x1: 300, y1: 100, x2: 420, y2: 180 },
    velocity: { xPxPerS: 320, yPxPerS: 0, pxPerFrame: 64 },
    seq: 8,
    captureTime: at(0),
    decidedAt: at(20),
    latencyMs: 20,
    ...over,
  };
}
