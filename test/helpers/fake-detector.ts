/** What every test fake of the detector contract shares: metadata, provenance and a no-op dispose. */
import type { FrameDetector, DetectionResult } from '../../src/contracts/detector.js';
import type { EngineRefusal } from '../../src/contracts/engine.js';
import type { Frame } from '../../src/contracts/frame.js';
import type { ModelMetadata, OutputLayout } from '../../src/contracts/vision.js';

export function fakeMetadata(names: string[], imgsz: [number, number] = [32, 32]): ModelMetadata {
  return { names, imgsz, raw: {} };
}

export abstract class FakeDetectorBase implements FrameDetector {
  abstract readonly engineKind: string;
  readonly metadata: ModelMetadata;
  readonly refusals: readonly EngineRefusal[] = [];
  readonly modelSha256 = 'f'.repeat(64);
  readonly layout: OutputLayout = 'yolov8';
  disposed = false;
  constructor(names: string[] = ['ok', 'scratch'], imgsz?: [number, number]) {
    this.metadata = fakeMetadata(names, imgsz);
  }
  abstract detectFrame(frame: Frame): Promise<DetectionResult>;
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
