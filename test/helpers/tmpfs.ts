/** A real, tiny filesystem for disk-full and read-only tests: a tmpfs mounted by the test (root with CAP_SYS_ADMIN). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh tmpfs of `size`, unmounted after the test; null (and the test skipped, saying why and what covers it) where mounting is not allowed. */
export function tmpfs(t: TestContext, size: string, coveredBy: string): string | null {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()}); ${coveredBy}`);
    return null;
  }
  t.after(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Remounts a tmpfs read-only (ro: true) or writable again; throws when the kernel refuses. */
export function remount(dir: string, ro: boolean): void {
  const r = spawnSync('mount', ['-o', `remount,${ro ? 'ro' : 'rw'}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remount ${ro ? 'ro' : 'rw'} ${dir} failed: ${r.stderr}`);
}
