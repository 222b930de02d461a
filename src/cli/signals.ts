/**
 * Signals that arrive before a command has handlers of its own. main.ts holds SIGTERM, SIGINT and SIGHUP
 * from its first statement, so a stop sent while the CLI is still loading (the daemon's module graph takes
 * a while) is not Node's default death by signal (exit 143): `inspectd run` takes the held signals over
 * and acts on them; any other command releases them, and a signal held meanwhile then acts as it would have.
 * No side effect on import: only main.ts starts holding.
 */
const HELD = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

let held: NodeJS.Signals[] | null = null;
const hold = (sig: NodeJS.Signals): void => {
  held?.push(sig);
};

export function holdSignals(): void {
  if (held) return;
  held = [];
  for (const sig of HELD) process.on(sig, hold);
}

/** Stops holding and returns the signals held so far, oldest first. Install your own handlers before calling it. */
export function takeHeldSignals(): NodeJS.Signals[] {
  const got = held ?? [];
  held = null;
  for (const sig of HELD) process.off(sig, hold);
  return got;
}

/** Default signal behaviour again; the first signal held meanwhile is raised again, now with that behaviour. */
export function releaseHeldSignals(): void {
  const first = takeHeldSignals()[0];
  if (first && process.listenerCount(first) === 0) process.kill(process.pid, first);
}
