/**
 * Reloads the config file on change (fs.watch) and on demand (SIGHUP -> reload()). The folder is watched,
 * not the file: editors and config management replace the file by rename, which ends a watch on the file
 * itself. An invalid edit calls onError and changes nothing; an edit that leaves the hash unchanged is ignored.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, InspectdError, errorMessage, isInspectdError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { loadConfigFile, type LoadedConfig } from './load.js';

export interface ConfigWatcherOptions {
  path: string;
  logger: Logger;
  onChange: (loaded: LoadedConfig) => void | Promise<void>;
  onError: (err: InspectdError) => void;
  /** A reload someone asked for (SIGHUP, cmd/reload) found the file unchanged: secrets it points to may have changed. */
  onUnchangedReload?: () => Promise<void>;
  /** The config already in use; its hash is the baseline. Omitted: start() loads the file for the baseline. */
  current?: LoadedConfig;
  /** Quiet period after the last file event before reloading, ms (default 200). */
  debounceMs?: number;
}

export class ConfigWatcher {
  private readonly opts: ConfigWatcherOptions;
  private readonly file: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private hash: string | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(opts: ConfigWatcherOptions) {
    this.opts = opts;
    this.file = path.resolve(opts.path);
    this.hash = opts.current?.hash;
  }

  /** Hash of the config last accepted (baseline or last successful change). */
  get currentHash(): string | undefined {
    return this.hash;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, 'ConfigWatcher was stopped and cannot be restarted; create a new one');
    if (this.watcher) return;
    if (!this.opts.current) {
      try {
        this.hash = (await loadConfigFile(this.file)).hash;
      } catch (err) {
        this.report(err);
      }
    }
    const base = path.basename(this.file);
    this.watcher = watch(path.dirname(this.file), { persistent: false }, (_event, name) => {
      // name can be null on some platforms: then any change in the folder is a candidate
      if (name !== null && name !== base) return;
      this.schedule();
    });
    this.watcher.on('error', (err) => {
      this.opts.logger.warn({ err: errorMessage(err), file: this.file }, 'config watch failed; reload with SIGHUP');
    });
  }

  /** Validates the file now and applies it if valid and different (SIGHUP). Resolves after onChange/onError ran. */
  reload(): Promise<void> {
    this.running = this.running.then(() => this.check('reload'));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(() => this.check('change'));
    }, this.opts.debounceMs ?? 200);
  }

  private async check(why: 'change' | 'reload'): Promise<void> {
    if (this.stopped) return;
    let loaded: LoadedConfig;
    try {
      loaded = await loadConfigFile(this.file);
    } catch (err) {
      this.report(err);
      return;
    }
    if (loaded.hash !== this.hash || why === 'reload') for (const warning of loaded.warnings) this.opts.logger.warn({ file: this.file }, warning);
    if (loaded.hash === this.hash) {
      // A reload someone asked for (SIGHUP, cmd/reload) is confirmed; a file event that changed nothing is not news.
      this.opts.logger[why === 'reload' ? 'info' : 'debug']({ file: this.file, hash: loaded.hash, why }, 'config unchanged; nothing to apply');
      if (why === 'reload' && this.opts.onUnchangedReload) {
        try {
          await this.opts.onUnchangedReload();
        } catch (err) {
          this.report(err);
        }
      }
      return;
    }
    try {
      await this.opts.onChange(loaded);
      this.hash = loaded.hash;
      this.opts.logger.info({ file: this.file, hash: loaded.hash, why }, 'config applied');
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    const e = isInspectdError(err) ? err : new InspectdError(ErrorCodes.CONFIG_INVALID, `config ${this.file} could not be applied: ${errorMessage(err)}`, { cause: err });
    this.opts.logger.error({ file: this.file, code: e.code, err: e.message }, 'config rejected; keeping the previous one');
    try {
      this.opts.onError(e);
    } catch (cbErr) {
      this.opts.logger.error({ err: errorMessage(cbErr) }, 'config onError callback threw');
    }
  }
}
