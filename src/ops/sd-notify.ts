/**
 * systemd notify protocol (sd_notify(3)) without libsystemd: datagrams to $NOTIFY_SOCKET through the
 * native addon (Node cannot send on AF_UNIX datagram sockets). A no-op when NOTIFY_SOCKET is unset.
 */
import type { Notifier } from '../contracts/ops.js';
import { tryLoadNativeAddon, type NativeAddon } from '../native/loader.js';

export interface SdNotifierOptions {
  /** Defaults to process.env.NOTIFY_SOCKET; '@name' is an abstract socket. */
  socketPath?: string | undefined;
  /** Injected for tests; defaults to the loaded addon (notify() returns false without one). */
  addon?: Pick<NativeAddon, 'sdNotify'> | null;
}

export class SdNotifier implements Notifier {
  readonly enabled: boolean;
  readonly socketPath: string | undefined;
  /** errno of the last failed send, for the caller to log if it cares. */
  lastError: number | undefined;
  private addon: Pick<NativeAddon, 'sdNotify'> | null | undefined;

  constructor(opts: SdNotifierOptions = {}) {
    const p = 'socketPath' in opts ? opts.socketPath : process.env.NOTIFY_SOCKET;
    this.socketPath = p && (p.startsWith('/') || p.startsWith('@')) ? p : undefined;
    this.enabled = this.socketPath !== undefined;
    this.addon = opts.addon;
  }

  /** Sends newline-separated KEY=VALUE fields. Never throws, logs nothing; returns whether it was sent. */
  notify(fields: string): boolean {
    if (!this.enabled || this.socketPath === undefined) return false;
    try {
      if (this.addon === undefined) this.addon = tryLoadNativeAddon();
      if (!this.addon) return false;
      const rc = this.addon.sdNotify(this.socketPath, fields);
      this.lastError = rc === 0 ? undefined : rc;
      return rc === 0;
    } catch {
      return false;
    }
  }

  ready(status?: string): boolean {
    return this.notify(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${oneLine(status)}`);
  }

  watchdog(): boolean {
    return this.notify('WATCHDOG=1');
  }

  status(text: string): boolean {
    return this.notify(`STATUS=${oneLine(text)}`);
  }

  /** systemd >= 253 (Type=notify-reload) wants MONOTONIC_USEC beside RELOADING=1. */
  reloading(): boolean {
    return this.notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
  }

  stopping(): boolean {
    return this.notify('STOPPING=1');
  }

  /** Half of WATCHDOG_USEC in ms, or null when no watchdog applies to this process. */
  static watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env): number | null {
    const usecText = env.WATCHDOG_USEC;
    if (!usecText || !/^\d+$/.test(usecText)) return null;
    const usec = Number(usecText);
    if (!Number.isSafeInteger(usec) || usec <= 0) return null;
    const pidText = env.WATCHDOG_PID;
    if (pidText !== undefined && pidText !== '' && Number(pidText) !== process.pid) return null;
    return Math.max(1, Math.floor(usec / 2000));
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** CLOCK_MONOTONIC in microseconds: process.hrtime is CLOCK_MONOTONIC on Linux. */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}
