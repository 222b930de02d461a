/**
 * Every long-lived part has start/stop. Constructors only store arguments; start() does the I/O and may
 * be aborted by `signal`; stop() is idempotent and a stopped part cannot be started again.
 */
export interface Service {
  start(signal: AbortSignal): Promise<void> | void;
  stop(): Promise<void> | void;
}
