/**
 * A small number kept in one file of a state folder and advanced on every start (the boot counter, Sparkplug's
 * bdSeq). Written temp file, fsync, rename, directory fsync, so a crash leaves the old or the new number, never a
 * torn one. Callers decide what follows the stored text (null: no file yet) and wrap failures in their own words.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** Reads `dir/name`, stores `next(previous text)` there durably and returns it. */
export async function advanceStoredNumber(dir: string, name: string, next: (previous: string | null) => number): Promise<number> {
  const file = path.join(dir, name);
  await fsp.mkdir(dir, { recursive: true });
  let previous: string | null = null;
  try {
    previous = (await fsp.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = next(previous);
  const tmp = `${file}.tmp`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(`${value}\n`);
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
  return value;
}
