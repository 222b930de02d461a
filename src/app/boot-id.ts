/**
 * The boot counter: a number persisted in the state folder and incremented on every daemon start, so ids
 * built from it (`<boot>-<n>` part ids, and so verdict keys) never repeat across restarts while a per-start
 * counter restarts at 1. The file is `boot-id` in the given folder (the outbox folder: it is the state the
 * daemon must be able to write anyway, and the outbox ignores names that are not its entries).
 *
 * Written like an outbox entry: temp file, fsync, rename, directory fsync, so a crash leaves the old or the
 * new number, never a torn one. A file that does not hold a number (corrupt, edited) is replaced by the
 * Unix time in seconds: larger than any count a daemon reaches by restarting, so no id repeats either.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';

export const BOOT_ID_FILE = 'boot-id';

/** Reads the last boot number in `dir`, stores and returns the next one (1 on a fresh folder). */
export async function loadBootId(dir: string, now: () => number = Date.now): Promise<number> {
  const file = path.join(dir, BOOT_ID_FILE);
  try {
    await fsp.mkdir(dir, { recursive: true });
    let prev = 0;
    try {
      const text = (await fsp.readFile(file, 'utf8')).trim();
      prev = /^\d{1,15}$/.test(text) ? Number(text) : Math.max(0, Math.floor(now() / 1000) - 1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const next = prev + 1;
    const tmp = `${file}.tmp`;
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(`${next}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    return next;
  } catch (err) {
    throw new InspectdError(
      ErrorCodes.OUTBOX_IO,
      `cannot store the boot counter in ${file}: ${errorMessage(err)}; part ids would repeat after a restart. Make the folder writable (outbox.dir, systemd StateDirectory)`,
      { cause: err },
    );
  }
}
