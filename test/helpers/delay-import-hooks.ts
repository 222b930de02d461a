/**
 * Module hooks for signal tests (registered by delay-import-register.ts): holds the CLI's import of
 * `./run.js` until a "go" file exists, after writing a marker file. A test sends its signal in that window,
 * when `inspectd run` is loading but has not installed its own handlers yet.
 * Env: INSPECTD_TEST_MARKER (written when the import is reached), INSPECTD_TEST_GO (waited for, ≤ 10 s).
 */
import { existsSync, writeFileSync } from 'node:fs';

type Resolve = (specifier: string, context: { parentURL?: string }) => Promise<unknown>;

export async function resolve(specifier: string, context: { parentURL?: string }, next: Resolve): Promise<unknown> {
  const marker = process.env.INSPECTD_TEST_MARKER;
  const go = process.env.INSPECTD_TEST_GO;
  if (marker && go && specifier === './run.js' && context.parentURL?.endsWith('/cli/commands.js')) {
    writeFileSync(marker, 'loading run.js\n');
    for (let i = 0; i < 400 && !existsSync(go); i++) await new Promise((r) => setTimeout(r, 25));
  }
  return next(specifier, context);
}
