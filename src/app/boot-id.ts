/**
 * The boot counter: a number persisted in the state folder and incremented on every daemon start, so ids
 * built from it (`<boot>-<n>` part ids, and so verdict keys) never repeat across restarts while a per-start
 * counter restarts at 1. The file is `boot-id` in the given folder (the outbox folder: it is the state the
 * daemon must be able to write anyway, and the outbox ignores names that are not its entries).
 *
 * Written durably (util/stored-counter: temp file, fsync, rename, directory fsync), so a crash leaves the old or the
 * new number, never a torn one. A file that does not hold a number (corrupt, edited) is replaced by the
 * Unix time in seconds: larger than any count a daemon reaches by restarting, so no id repeats either.
 */
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import { advanceStoredNumber } from '../util/stored-counter.js';

export const BOOT_ID_FILE = 'boot-id';

/** Reads the last boot number in `dir`, stores and returns the next one (1 on a fresh folder). */
export async function loadBootId(dir: string, now: () => number = Date.now): Promise<number> {
  try {
    return await advanceStoredNumber(dir, BOOT_ID_FILE, (text) => {
      if (text === null) return 1;
      const previous = /^\d{1,15}$/.test(text) ? Number(text) : Math.max(0, Math.floor(now() / 1000) - 1);
      return previous + 1;
    });
  } catch (err) {
    throw new InspectdError(
      ErrorCodes.OUTBOX_IO,
      `cannot store the boot counter in ${path.join(dir, BOOT_ID_FILE)}: ${errorMessage(err)}; part ids would repeat after a restart. Make the folder writable (outbox.dir, systemd StateDirectory)`,
      { cause: err },
    );
  }
}
