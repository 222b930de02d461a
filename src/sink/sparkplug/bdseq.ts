/**
 * Sparkplug's birth/death sequence number (bdSeq, 0-255): persisted so that after a restart the next
 * connection's NDEATH (the MQTT Will) cannot carry the bdSeq of a birth a host application still holds from
 * before. One file, `sparkplug-bdseq`, in the state folder; written like boot-id (temp file, fsync, rename,
 * directory fsync). A file that does not hold 0-255 starts the count again at 0.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../../errors.js';

export const BDSEQ_FILE = 'sparkplug-bdseq';

/** Reads the last bdSeq in `dir`, stores and returns the next one (0 on a fresh folder, 255 wraps to 0). */
export async function nextBdSeq(dir: string): Promise<number> {
  const file = path.join(dir, BDSEQ_FILE);
  try {
    await fsp.mkdir(dir, { recursive: true });
    let next = 0;
    try {
      const text = (await fsp.readFile(file, 'utf8')).trim();
      if (/^\d{1,3}$/.test(text) && Number(text) <= 255) next = (Number(text) + 1) % 256;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
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
      `cannot store the Sparkplug bdSeq in ${file}: ${errorMessage(err)}; make the folder writable (outbox.dir, systemd StateDirectory) or set sparkplug.enabled: false`,
      { cause: err },
    );
  }
}
