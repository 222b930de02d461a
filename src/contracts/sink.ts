/** What the daemon publishes through (src/sink/mqtt-sink.ts implements it; tests fake it). */
import type { SourceState } from './camera.js';
import type { DetectionsPayload, RejectPayload } from './messages.js';

export interface EventSink {
  readonly connected: boolean;
  start(signal: AbortSignal): Promise<void>;
  /** Stops taking events, flushes what it can, publishes offline. Idempotent. */
  stop(): Promise<void>;
  /** Fire and forget: never throws; dropped (counted) while disconnected. */
  publishDetections(payload: DetectionsPayload): void;
  /** Resolves once the reject is durable (outbox), before the broker has it. */
  publishReject(payload: RejectPayload): Promise<void>;
  publishState(cameraId: string, state: SourceState): Promise<void>;
  /** The retained JSON status; kept and re-published on every connect. */
  publishStatus(info: Record<string, unknown>): void;
  onCommand(handler: (command: string, payload: Buffer) => void): void;
}
