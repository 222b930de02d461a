/** A gst-launch-1.0 pipeline ending in raw video; inspectd appends conversion to RGB at W x H and fdsink. */
import type { Logger } from '../ops/log.js';
import type { GstreamerSourceConfig } from '../config/types.js';
import { PipeProcessSource } from './raw-pipe.js';

/**
 * Splits a pipeline description into argv tokens like a shell would for quotes, without a shell:
 * `a location="x y" ! b` -> ['a', 'location=x y', '!', 'b'].
 */
export function splitPipeline(desc: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < desc.length; i++) {
    const c = desc[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < desc.length) cur += desc[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < desc.length) {
      cur += desc[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} in GStreamer pipeline`);
  if (has || cur) out.push(cur);
  return out;
}

export function gstreamerArgs(src: GstreamerSourceConfig): string[] {
  return [
    '-q',
    ...splitPipeline(src.pipeline),
    '!',
    'videoconvert',
    '!',
    'videoscale',
    '!',
    `video/x-raw,format=RGB,width=${src.width},height=${src.height}`,
    '!',
    'fdsink',
    'fd=1',
  ];
}

export class GstreamerSource extends PipeProcessSource {
  constructor(cameraId: string, src: GstreamerSourceConfig, deps: { logger?: Logger; command?: string; killTimeoutMs?: number } = {}) {
    super({
      cameraId,
      kind: 'gstreamer',
      command: deps.command ?? 'gst-launch-1.0',
      args: gstreamerArgs(src),
      width: src.width,
      height: src.height,
      origin: src.pipeline,
      logger: deps.logger,
      killTimeoutMs: deps.killTimeoutMs,
      installHint: 'install GStreamer tools (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)',
    });
  }
}
