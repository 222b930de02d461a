/**
 * `inspectd run [--config FILE]`: the daemon in the foreground (systemd Type=notify, or a terminal).
 * Config: --config FILE, else $INSPECTD_CONFIG, else the embedded defaults (demo model, synthetic camera,
 * embedded broker). /etc/inspectd/config.yaml is NOT read implicitly: the systemd unit passes --config,
 * so what runs is always what the command line says.
 * Signals: SIGTERM/SIGINT stop (drain, flush the outbox, publish offline, exit 0) at any moment, also while
 * still loading (held by main.ts until the handlers here exist) or connecting; SIGHUP reloads the config.
 * Exit codes: 0 clean stop; 1 start-up or stop failure; 2 usage; 78 (EX_CONFIG) invalid config, a secret or TLS
 * file it names that cannot be read or used, or a state directory that cannot be ours (outbox not writable, outbox/snapshots locked by another instance), so a unit
 * can set RestartPreventExitStatus=78 instead of restarting into the same error.
 */
import path from 'node:path';
import { Daemon, type DaemonOptions } from '../app/daemon.js';
import { errorMessage, isInspectdError, ErrorCodes } from '../errors.js';
import { createLogger, type Logger } from '../ops/log.js';
import { embeddedDefaults } from '../config/defaults.js';
import { loadConfigFile, type LoadedConfig } from '../config/load.js';
import { packageRoot } from '../util/package.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, commandErrorText, parseCommandArgs, usageError } from './args.js';
import { takeHeldSignals } from './signals.js';

export const EXIT_CONFIG = 78;

export const RUN_USAGE = 'usage: inspectd run [--config FILE]   (no --config and no INSPECTD_CONFIG: embedded demo defaults)';

/** The config file named on the command line, if any; undefined once --help has been printed. */
function parseRunArgs(argv: string[]): { config?: string } | undefined {
  const parsed = parseCommandArgs(argv, RUN_USAGE + '\n', { config: { type: 'string', short: 'c' } });
  if (!parsed) return undefined;
  // `--config=` must not fall through to the embedded defaults: the command line names no file then.
  if (parsed.values.config === '') throw usageError(`--config needs a file\n${RUN_USAGE}`);
  return { config: parsed.values.config };
}

export interface RunHooks {
  /** Tests: extra Daemon options (fake parts). */
  daemon?: Partial<DaemonOptions>;
  /** Tests: resolves to stop the daemon instead of a signal. */
  until?: Promise<unknown>;
}

export async function runCommand(argv: string[], hooks: RunHooks = {}): Promise<number> {
  // Handlers first, then the signals main.ts held while this module loaded: a stop at any moment is a clean one.
  const startAbort = new AbortController();
  let stopRequested!: () => void;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  let logger: Logger | undefined;
  let daemon: Daemon | undefined;
  let stopping = false;
  const onStop = (sig: NodeJS.Signals): void => {
    if (stopping) {
      logger?.warn({ signal: sig }, 'already stopping; waiting for the drain to finish');
      return;
    }
    stopping = true;
    logger?.info({ signal: sig }, 'stop requested');
    startAbort.abort();
    stopRequested();
  };
  const onHup = (): void => {
    // Before the daemon exists the config is about to be read anyway.
    if (!daemon) return;
    logger?.info('SIGHUP: reloading config');
    daemon.reload().catch((err) => logger?.error({ err: errorMessage(err) }, 'reload failed'));
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  for (const sig of takeHeldSignals()) {
    if (sig === 'SIGHUP') onHup();
    else onStop(sig);
  }
  try {
    return await run(argv, hooks, {
      signal: startAbort.signal,
      stopSignal,
      stop: onStop,
      setLogger: (l) => (logger = l),
      setDaemon: (d) => (daemon = d),
    });
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
}

interface RunControl {
  /** Aborted by the first stop signal. */
  signal: AbortSignal;
  /** Resolves on the first stop signal. */
  stopSignal: Promise<void>;
  stop: (sig: NodeJS.Signals) => void;
  setLogger: (logger: Logger) => void;
  setDaemon: (daemon: Daemon) => void;
}

async function run(argv: string[], hooks: RunHooks, ctl: RunControl): Promise<number> {
  let args: ReturnType<typeof parseRunArgs>;
  try {
    args = parseRunArgs(argv);
  } catch (err) {
    process.stderr.write(commandErrorText('run', err));
    return EXIT_USAGE;
  }
  if (!args) return EXIT_OK;
  const root = packageRoot();
  const configPath = args.config ?? (process.env.INSPECTD_CONFIG || undefined);
  let loaded: LoadedConfig;
  try {
    loaded = configPath ? await loadConfigFile(path.resolve(configPath)) : embeddedDefaults(root);
  } catch (err) {
    process.stderr.write(`inspectd run: ${errorMessage(err)}\n`);
    return isInspectdError(err, ErrorCodes.CONFIG_INVALID) || isInspectdError(err, ErrorCodes.CONFIG_READ) ? EXIT_CONFIG : EXIT_FAILURE;
  }
  const logger = createLogger({ level: process.env.INSPECTD_LOG_LEVEL ?? loaded.config.log.level });
  ctl.setLogger(logger);
  for (const warning of loaded.warnings) logger.warn({ config: loaded.source }, warning);
  if (ctl.signal.aborted) {
    logger.info('stop requested before start; nothing was started');
    return EXIT_OK;
  }
  const daemon = new Daemon({
    loaded,
    configPath: configPath ? path.resolve(configPath) : undefined,
    logger,
    ...hooks.daemon,
  });
  ctl.setDaemon(daemon);
  if (hooks.until) void hooks.until.then(() => ctl.stop('SIGTERM'));

  let code = EXIT_OK;
  try {
    await daemon.start(ctl.signal);
    await ctl.stopSignal;
  } catch (err) {
    if (!ctl.signal.aborted) {
      logger.fatal({ code: isInspectdError(err) ? err.code : undefined, err: errorMessage(err) }, 'inspectd could not start');
      process.stderr.write(`inspectd run: ${errorMessage(err)}\n`);
      code = startFailureExit(err);
    }
  }
  try {
    await daemon.stop();
  } catch (err) {
    logger.error({ err: errorMessage(err) }, 'inspectd did not stop cleanly');
    code = EXIT_FAILURE;
  }
  return code;
}

/** A start-up failure that a restart would only repeat (until someone changes the config or the box) is EX_CONFIG. */
function startFailureExit(err: unknown): number {
  // CONFIG_INVALID at start includes rules naming classes the loaded model lacks.
  const config = [ErrorCodes.LOCKED, ErrorCodes.OUTBOX_IO, ErrorCodes.CONFIG_INVALID, ErrorCodes.CREDENTIALS] as const;
  return config.some((code) => isInspectdError(err, code)) ? EXIT_CONFIG : EXIT_FAILURE;
}
