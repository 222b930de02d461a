/**
 * Sparkplug's birth/death sequence number (bdSeq, 0-255): persisted so that after a restart the next
 * connection's NDEATH (the MQTT Will) cannot carry the bdSeq of a birth a host application still holds from
 * before. One file, `sparkplug-bdseq`, in the state folder; written durably like boot-id (util/stored-counter). A file that does not hold 0-255 starts the count again at 0.
 */
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage } from '../../errors.js';
import { advanceStoredNumber } from '../../util/stored-counter.js';

export const BDSEQ_FILE = 'sparkplug-bdseq';

/** Reads the last bdSeq in `dir`, stores and returns the next one (0 on a fresh folder, 255 wraps to 0). */
export async function nextBdSeq(dir: string): Promise<number> {
  try {
    return await advanceStoredNumber(dir, BDSEQ_FILE, (text) => (text !== null && /^\d{1,3}$/.test(text) && Number(text) <= 255 ? (Number(text) + 1) % 256 : 0));
  } catch (err) {
    throw new InspectdError(
      ErrorCodes.OUTBOX_IO,
      `cannot store the Sparkplug bdSeq in ${path.join(dir, BDSEQ_FILE)}: ${errorMessage(err)}; make the folder writable (outbox.dir, systemd StateDirectory) or set sparkplug.enabled: false`,
      { cause: err },
    );
  }
}
