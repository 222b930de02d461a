/** What the Daemon is made from: the loaded config, where it came from, and what tests or the CLI inject. */
import type { LoadedConfig } from '../config/load.js';
import type { Notifier } from '../contracts/ops.js';
import type { Logger } from '../ops/log.js';
import type { DaemonParts } from './parts.js';

export interface DaemonOptions {
  loaded: LoadedConfig;
  /** The file to watch for edits and re-read on SIGHUP; omitted with embedded defaults. */
  configPath?: string;
  logger: Logger;
  notifier?: Notifier;
  parts?: Partial<DaemonParts>;
  /** Status JSON re-publish and STATUS= period (default 10 s). */
  statusIntervalMs?: number;
  /** Longest wait for in-flight frames on stop (default 5 s). */
  drainMs?: number;
  /** For the console summary's 'auto' mode (default process.stderr.isTTY). */
  isTTY?: boolean;
}
