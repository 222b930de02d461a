/**
 * The stack of started parts: pushed in start order, stopped in reverse (last started, first stopped).
 * Every part is stopped even when one fails; the first failure is kept for the caller.
 */
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';

interface Entry {
  name: string;
  stop: () => Promise<void> | void;
}

export class ServiceStack {
  private readonly entries: Entry[] = [];

  push(name: string, stop: () => Promise<void> | void): void {
    this.entries.push({ name, stop });
  }

  has(name: string): boolean {
    return this.entries.some((e) => e.name === name);
  }

  /** Pops and stops everything; resolves to the first failure (null when all stopped cleanly). */
  async stopAll(logger: Logger): Promise<unknown> {
    let failure: unknown = null;
    while (this.entries.length > 0) {
      const part = this.entries.pop()!;
      try {
        await part.stop();
      } catch (err) {
        failure ??= err;
        logger.error({ part: part.name, err: errorMessage(err) }, 'part failed to stop');
      }
    }
    return failure;
  }
}

/** Start-up checks this between steps: a signal (SIGTERM while starting) aborts it. */
export function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw new InspectdError(ErrorCodes.LIFECYCLE, 'start-up aborted by a signal');
}
