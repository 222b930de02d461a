/**
 * The event sink contract: what the app hands to the outside world (README.md "MQTT contract").
 * The real one is src/sink/mqtt-sink.ts; test fakes implement the same interface.
 */
import type { SourceState } from './camera.js';
import type { DetectionsPayload, RejectPayload, VerdictPayload } from './messages.js';

/** Commands accepted on `<base>/<device>/cmd/<command>`; anything else is ignored and logged. */
export const COMMANDS = ['reload', 'pause', 'resume', 'trigger', 'encoder'] as const;
export type CommandName = (typeof COMMANDS)[number];
export type CommandHandler = (command: CommandName, payload: Buffer) => void;

/** The app's status fields; the sink publishes them on `status/json` with device, version and publishedAt. */
export type StatusInfo = Readonly<Record<string, unknown>>;

/**
 * A reject as subscribers receive it: the pipeline's RejectPayload without its internal capture clock,
 * stamped at delivery. `expired`: delivered later than outbox.rejectTtlMs after capture.
 */
export type PublishedReject = Omit<RejectPayload, 'captureWall'> & {
  publishedAt: string;
  deliveryDelayMs: number;
  expired: boolean;
};

/**
 * A verdict as subscribers receive it: the VerdictPayload without its internal capture clock, stamped at
 * delivery. `late`: delivered after `ejectAt` (or, without an ejector model, later than outbox.rejectTtlMs
 * after the deciding frame's capture): published anyway, never dropped for it.
 */
export type PublishedVerdict = Omit<VerdictPayload, 'captureWall'> & {
  publishedAt: string;
  deliveryDelayMs: number;
  late: boolean;
};

export interface EventSink {
  readonly connected: boolean;
  /**
   * Why the last connection attempt failed, in words (`mqtt: refused (bad credentials)`,
   * `mqtt: unreachable (connect ECONNREFUSED …)`); null while connected or before the first attempt ends.
   */
  readonly connectionError: string | null;
  /**
   * Connected, but the broker refuses what is published (an MQTT 5 PUBACK reason code: an ACL denying a topic),
   * in words with the topic; null once a publish is accepted again.
   */
  readonly deliveryError?: string | null;
  /** What start() checks and reads before connecting (a reload prepares the next sink with it); throws on a problem. */
  preflight?(): void;
  /** After both preflights: whether `other` would connect with the same secrets (password, key passphrase) as this one. */
  sameSecrets?(other: EventSink): boolean;
  start(signal: AbortSignal): Promise<void>;
  /** Stops taking events and delivers what it can; idempotent. */
  stop(): Promise<void>;
  /** Live stream on `<camera>/detections`: never throws, dropped (and counted) while disconnected. */
  publishDetections(payload: DetectionsPayload): void;
  /**
   * Resolves once the reject is durable (not when it is delivered), or held in memory when the disk refuses it
   * (the outbox is degraded and retries); delivery is at-least-once, deduped on `key`.
   */
  publishReject(payload: RejectPayload): Promise<void>;
  /** A part's verdict on `<camera>/verdict`: like a reject, durable when this resolves, in order, deduped on `key`. */
  publishVerdict(payload: VerdictPayload): Promise<void>;
  /** Durable and retained on `<camera>/state`; supersedes the camera's older undelivered states. */
  publishState(cameraId: string, state: SourceState): Promise<void>;
  publishStatus(info: StatusInfo): void;
  onCommand(handler: CommandHandler): void;
}
