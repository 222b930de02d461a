/**
 * A compact status line for people running the daemon in a terminal (npm start). Logs are pino JSON on
 * stdout; this line goes to stderr so both stay readable and the JSON stream stays machine-parsable.
 */
export interface SummarySnapshot {
  /** Frames inferred per second over the last interval, all cameras. */
  fps: number;
  /** Capture-to-publish p50 in ms (NaN before the first frame). */
  p50Ms: number;
  rejectsByClass: Record<string, number>;
  /** Totals of the decision: part cameras (absent when there are none). */
  parts?: { seen: number; reject: number; pass: number; failSafe: number };
  broker: 'connected' | 'disconnected' | string;
  outboxDepth: number;
  engine?: string;
  cameras?: { id: string; state: string }[];
}

export function summaryEnabled(mode: 'auto' | 'on' | 'off', isTTY: boolean): boolean {
  return mode === 'on' || (mode === 'auto' && isTTY);
}

export function formatSummary(s: SummarySnapshot): string {
  const rejects = Object.entries(s.rejectsByClass);
  const rej = rejects.length === 0 ? '0' : rejects.map(([c, n]) => `${c}=${n}`).join(' ');
  const cams = s.cameras && s.cameras.length > 0 ? ` | cams ${s.cameras.map((c) => `${c.id}:${c.state}`).join(' ')}` : '';
  const p50 = Number.isFinite(s.p50Ms) ? `${s.p50Ms.toFixed(1)}ms` : '-';
  const engine = s.engine ? ` ${s.engine}` : '';
  const parts = s.parts ? ` | parts ${s.parts.seen} (reject ${s.parts.reject}, pass ${s.parts.pass}, fail-safe ${s.parts.failSafe})` : '';
  // Per-frame rejects only when some camera makes them: with parts alone, "rejects 0" would read as none rejected.
  const rejSeg = s.parts && rejects.length === 0 ? '' : ` | rejects ${rej}`;
  return `[inspectd]${engine} ${s.fps.toFixed(1)} fps | p50 ${p50}${rejSeg}${parts} | broker ${s.broker} | outbox ${s.outboxDepth}${cams}`;
}

export class ConsoleSummary {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: { intervalMs: number; snapshot: () => SummarySnapshot; write?: (line: string) => void }) {}

  start(): void {
    if (this.timer) return;
    const write = this.opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
    this.timer = setInterval(() => {
      try {
        write(formatSummary(this.opts.snapshot()));
      } catch {
        // a status line must never take the daemon down
      }
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
