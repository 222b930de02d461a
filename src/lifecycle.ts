/**
 * Every long-lived part has start/stop. Constructors only store arguments; start() does the I/O;
 * stop() is idempotent, logs rather than throws, and a stopped part cannot be started again.
 */
export interface Lifecycle {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
