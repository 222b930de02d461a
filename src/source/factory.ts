/** One place that maps a camera's source config to its FrameSource. */
import type { CameraConfig } from '../config/types.js';
import type { Logger } from '../ops/log.js';
import { FfmpegSource } from './ffmpeg.js';
import { FolderSource } from './folder.js';
import { GstreamerSource } from './gstreamer.js';
import type { FrameSource } from './source.js';
import { SyntheticSource } from './synthetic.js';

export function createSource(camera: CameraConfig, deps: { logger: Logger }): FrameSource {
  const src = camera.source;
  switch (src.type) {
    case 'synthetic':
      return new SyntheticSource(camera.id, src);
    case 'ffmpeg':
      return new FfmpegSource(camera.id, src, deps);
    case 'gstreamer':
      return new GstreamerSource(camera.id, src, deps);
    case 'folder':
      return new FolderSource(camera.id, src, deps);
  }
}
