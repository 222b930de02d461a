/**
 * `inspectd run [--config FILE]`: the daemon in the foreground (systemd Type=notify, or a terminal).
 * Config: --config FILE, else $INSPECTD_CONFIG, else the embedded defaults (demo model, synthetic camera,
 * embedded broker). /etc/inspectd/config.yaml is NOT read implicitly: the systemd unit passes --config,
 * so what runs is always what the command line says.
 * Signals: SIGTERM/SIGINT stop (drain, flush the outbox, publish offline, exit 0); SIGHUP reloads the config.
 * Exit codes: 0 clean stop; 1 start-up or stop failure; 2 usage; 78 (EX_CONFIG) invalid config, so a unit
 * can set RestartPreventExitStatus=78 instead of restarting into the same error.
 */
import path from 'node:path';
import { Daemon, type DaemonOptions } from '../app/daemon.js';
import { errorMessage, isInspectdError, ErrorCodes } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { embeddedDefaults } from '../config/defaults.js';
import { loadConfigFile, type LoadedConfig } from '../config/load.js';
import { packageRoot } from '../util/package.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, commandErrorText, parseCommandArgs, usageError } from './args.js';

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
  let args;
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
  const daemon = new Daemon({
    loaded,
    configPath: configPath ? path.resolve(configPath) : undefined,
    logger,
    ...hooks.daemon,
  });

  const startAbort = new AbortController();
  let stopRequested!: () => void;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  let stopping = false;
  const onStop = (sig: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal: sig }, 'already stopping; waiting for the drain to finish');
      return;
    }
    stopping = true;
    logger.info({ signal: sig }, 'stop requested');
    startAbort.abort();
    stopRequested();
  };
  const onHup = (): void => {
    logger.info('SIGHUP: reloading config');
    daemon.reload().catch((err) => logger.error({ err: errorMessage(err) }, 'reload failed'));
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  if (hooks.until) void hooks.until.then(() => onStop('SIGTERM'));

  let code = EXIT_OK;
  try {
    try {
      await daemon.start(startAbort.signal);
      await stopSignal;
    } catch (err) {
      if (!startAbort.signal.aborted) {
        logger.fatal({ code: isInspectdError(err) ? err.code : undefined, err: errorMessage(err) }, 'inspectd could not start');
        process.stderr.write(`inspectd run: ${errorMessage(err)}\n`);
        // A config the model contradicts (rules naming classes it lacks) is a config error: no restart into it.
        code = isInspectdError(err, ErrorCodes.CONFIG_INVALID) ? EXIT_CONFIG : EXIT_FAILURE;
      }
    }
    try {
      await daemon.stop();
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'inspectd did not stop cleanly');
      code = EXIT_FAILURE;
    }
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
  return code;
}
