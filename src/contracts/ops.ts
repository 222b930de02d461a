/** What the daemon tells its supervisor (systemd) and its health endpoint. */

/** systemd notification (src/ops/sd-notify.ts); every method is a no-op outside systemd. */
export interface Notifier {
  readonly enabled: boolean;
  ready(status?: string): void;
  watchdog(): void;
  status(text: string): void;
  reloading(): void;
  stopping(): void;
}

export const NOOP_NOTIFIER: Notifier = { enabled: false, ready() {}, watchdog() {}, status() {}, reloading() {}, stopping() {} };

/** The durable outbox as /healthz shows it: not ok while the disk refuses writes (events held in memory). */
export interface OutboxHealth {
  ok: boolean;
  /** Events waiting for the broker. */
  depth: number;
  /** Of those, held only in memory because the disk refused them (retried with backoff). */
  unwritten: number;
  /** The last write failure, while degraded. */
  error?: string;
}

/** GET /healthz's body: 200 when ok, else 503. */
export interface HealthInfo {
  ok: boolean;
  /** Why not ok, in words (absent when ok). */
  reason?: string;
  ready: boolean;
  mqttConnected: boolean;
  /** Why MQTT is not connected, when known (EventSink.connectionError). */
  mqttError?: string;
  outbox?: OutboxHealth;
  cameras: { id: string; state: string; reason?: string }[];
  engine: string | null;
}
