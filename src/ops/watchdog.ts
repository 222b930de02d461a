/**
 * systemd watchdog that proves progress, not mere liveness: at every tick (half of WATCHDOG_USEC) it
 * pings only when the inferred-frames counter advanced since the previous tick, or when no frame is
 * expected (idle(); the daemon's rule is Daemon.expectingFrames: nothing queued and every camera paused,
 * in fault (its supervisor owns the recovery), or a hot folder with nothing to read). Frames queued but not
 * inferred (a hung engine) or a live camera gone quiet stop the pings, and systemd restarts the daemon
 * after WatchdogSec unless progress resumes or the supervisor declares the camera's stall first.
 */
export interface WatchdogOptions {
  /** Tick period in ms: half of WATCHDOG_USEC (SdNotifier.watchdogIntervalMs). */
  intervalMs: number;
  /** Monotonic progress counter (frames inferred, all cameras). */
  progress: () => number;
  /** True when no frame is expected, so no progress is no fault. */
  idle: () => boolean;
  ping: () => void;
  /** Called when a tick withholds the ping (for a log line). */
  withheld?: (reason: string) => void;
}

export class InferenceWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private last: number;
  private withholding = false;

  constructor(private readonly opts: WatchdogOptions) {
    this.last = Number.NaN;
  }

  start(): void {
    if (this.timer) return;
    this.last = this.opts.progress();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** One decision; returns whether it pinged. Public so tests need no timers. */
  tick(): boolean {
    const now = this.opts.progress();
    const advanced = now !== this.last;
    this.last = now;
    if (advanced || this.opts.idle()) {
      this.withholding = false;
      this.opts.ping();
      return true;
    }
    if (!this.withholding) this.opts.withheld?.('no frame reached inference since the last watchdog tick');
    this.withholding = true;
    return false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
