export { Pipeline, type PipelineOptions } from './pipeline.js';
export { FrameMailbox } from './mailbox.js';
export type * from './types.js';
