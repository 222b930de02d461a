/** Raw head output -> detections in source pixels: decode (per layout), thresholds, NMS, un-letterbox. */
import type { Detection, LetterboxInfo, PostprocessOptions } from '../contracts/vision.js';
import type { LayoutInfo } from './layout.js';
import { CandidateBuffer, decodeEnd2End, decodeYolov5, decodeYolov8 } from './decode.js';
import { buildThresholds, nmsClassAware, toDetections, topK } from './nms.js';

/** Holds the scratch buffers for one model so frames allocate nothing large; not re-entrant across awaits (it has none). */
export class Postprocessor {
  private readonly candidates = new CandidateBuffer();
  private readonly scratch: { best: Float32Array; arg: Int32Array };

  constructor(
    readonly layout: LayoutInfo,
    readonly names: readonly string[],
  ) {
    const n = layout.layout === 'yolov8' ? layout.numCandidates : 0;
    this.scratch = { best: new Float32Array(n), arg: new Int32Array(n) };
  }

  run(data: Float32Array, info: LetterboxInfo, post: PostprocessOptions): Detection[] {
    const l = this.layout;
    const expected = l.numCandidates * l.rowLength;
    if (data.length < expected) throw new RangeError(`output has ${data.length} values, expected ${expected}`);
    const t = buildThresholds(post, this.names, l.numClasses);
    const c = this.candidates;
    c.reset();
    let kept: number[];
    switch (l.layout) {
      case 'yolov8':
        decodeYolov8(data, l.numClasses, l.numCandidates, t, c, this.scratch);
        kept = nmsClassAware(c, post.iou, post.maxDetections);
        break;
      case 'yolov5':
        decodeYolov5(data, l.numClasses, l.numCandidates, t, c);
        kept = nmsClassAware(c, post.iou, post.maxDetections);
        break;
      case 'end2end':
        decodeEnd2End(data, l.numCandidates, t, c);
        kept = topK(c, post.maxDetections);
        break;
    }
    return toDetections(c, kept, info, this.names);
  }
}
