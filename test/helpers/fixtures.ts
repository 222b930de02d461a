import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, from dist/test/helpers or test/helpers alike. */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/** Third-party fixtures live in ../shared/fixtures beside the checkout; a user's fresh clone has none. */
export const SHARED_FIXTURES = process.env.INSPECTD_SHARED_FIXTURES ?? path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');

/**
 * node:test `skip` option value: false when the shared fixtures are there, else the reason,
 * which node:test prints beside the skipped test so a skip is never silent.
 */
export function sharedFixturesSkip(): false | string {
  return existsSync(path.join(SHARED_FIXTURES, 'models'))
    ? false
    : `shared fixtures not found at ${SHARED_FIXTURES} (third-party models are not shipped; set INSPECTD_SHARED_FIXTURES)`;
}

export function sharedFixture(...parts: string[]): string {
  return path.join(SHARED_FIXTURES, ...parts);
}

export function repoPath(...parts: string[]): string {
  return path.join(REPO_ROOT, ...parts);
}
