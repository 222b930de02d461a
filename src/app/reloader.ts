/**
 * Config reloads: watches the file (and SIGHUP / cmd/reload), validates, and applies an edit in two
 * steps: every participant prepares what can fail (a new model is loaded and warmed while the old one
 * keeps serving), then all switch. A failed preparation changes nothing and is reported as the last
 * config error (status topic, metrics); the running config stays.
 */
import { diffConfig, type ConfigDiff } from '../config/diff.js';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ConfigWatcher } from '../config/watch.js';
import type { Notifier } from '../contracts/ops.js';
import { ErrorCodes, InspectdError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import type { DaemonBus } from './events.js';

/** A part whose settings can change while it runs. */
export interface Reconfigurable {
  readonly name: string;
  /** May fail (its own leftovers disposed); nothing observable changes until every participant has prepared. */
  prepare?(next: LoadedConfig, prev: Config, diff: ConfigDiff): Promise<void>;
  /** A reload with the file unchanged: re-read what the config points to (secret files), switching only if it changed. */
  refresh?(current: Config): Promise<void>;
  /** Drops what prepare() made, when a later participant failed to prepare. */
  discard?(): Promise<void>;
  apply(next: Config, prev: Config, diff: ConfigDiff): Promise<void> | void;
}

export interface ConfigReloaderOptions {
  initial: LoadedConfig;
  /** The file to watch; none with embedded defaults. */
  path?: string;
  logger: Logger;
  bus: DaemonBus;
  notifier: () => Notifier;
  /** The systemd STATUS= text sent with READY=1 after a reload. */
  statusLine: () => string;
  /** While start-up waits for a usable model, an edit (perhaps the fix) is taken whole and wakes the wait. */
  model: { readonly waiting: boolean; wake(): boolean };
  /** Resolves once start-up has settled: true when the daemon runs. */
  started: () => Promise<boolean>;
  stopping: () => boolean;
}

export class ConfigReloader {
  private loaded: LoadedConfig;
  private watcher: ConfigWatcher | null = null;
  private chain: Promise<void> = Promise.resolve();
  private readonly participants: Reconfigurable[] = [];
  private lastError: { at: string; message: string } | null = null;

  constructor(private readonly opts: ConfigReloaderOptions) {
    this.loaded = opts.initial;
  }

  get current(): LoadedConfig {
    return this.loaded;
  }

  get error(): { at: string; message: string } | null {
    return this.lastError;
  }

  /** Parts join as they start, in start order; a reload reaches them in that order. */
  participate(p: Reconfigurable): void {
    this.participants.push(p);
  }

  /** A part that only needs to hear when its own config section changed. */
  onSection(section: Exclude<keyof ConfigDiff, 'cameras' | 'model'>, apply: (next: Config) => Promise<void> | void): void {
    this.participate({ name: section, apply: (next, _prev, diff) => (diff[section] ? apply(next) : undefined) });
  }

  async start(): Promise<void> {
    if (!this.opts.path) return;
    const watcher = new ConfigWatcher({
      path: this.opts.path,
      logger: this.opts.logger,
      current: this.loaded,
      onChange: (next) => this.apply(next),
      onError: (err) => this.reject(err.message),
      onUnchangedReload: () => this.refresh(),
    });
    await watcher.start();
    this.watcher = watcher;
  }

  async stop(): Promise<void> {
    await this.watcher?.stop();
    await this.chain.catch(() => undefined);
  }

  /** SIGHUP and cmd/reload: re-reads the config file; an invalid file keeps the running config (reported). */
  async reload(): Promise<void> {
    if (!this.watcher) {
      this.opts.logger.info('reload requested but no config file is in use (embedded defaults): nothing to reload');
      return;
    }
    await this.watcher.reload();
  }

  /** Settles when no reload is being applied. */
  idle(): Promise<void> {
    return this.chain.catch(() => undefined);
  }

  /**
   * Edits adopted while start-up was still going on reach the participants that had already started;
   * the rest start from the current config anyway.
   */
  async catchUp(since: Readonly<Config>): Promise<void> {
    const cfg = this.loaded.config;
    if (cfg === since) return;
    const diff = diffConfig(since, cfg);
    for (const p of this.participants) await p.apply(cfg, since, diff);
    if (diff.outbox) this.opts.logger.warn('outbox settings change takes effect at the next start');
  }

  apply(next: LoadedConfig): Promise<void> {
    const run = this.chain.then(() => this.doApply(next));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Runs in the reload chain, so it never overlaps an edit being applied; a failure is the last config error. */
  private refresh(): Promise<void> {
    const run = this.chain.then(async () => {
      if (!(await this.opts.started()) || this.opts.stopping()) return;
      for (const p of this.participants) await p.refresh?.(this.loaded.config);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private reject(message: string): void {
    this.lastError = { at: new Date().toISOString(), message };
    this.opts.bus.emit('config.rejected', { message });
    if (!this.opts.stopping()) this.opts.notifier().ready(this.opts.statusLine()); // never READY=1 after STOPPING=1
  }

  private async doApply(next: LoadedConfig): Promise<void> {
    if (this.opts.model.waiting) {
      this.opts.logger.info({ hash: next.hash }, 'config changed while waiting for a usable model');
      this.loaded = next;
      this.lastError = null;
      this.opts.model.wake();
      return;
    }
    // An edit that arrives while start-up is still going on applies once it is done.
    if (!(await this.opts.started())) throw new InspectdError(ErrorCodes.LIFECYCLE, 'daemon is not running; config not applied');
    const prev = this.loaded.config;
    const cfg = next.config;
    const diff = diffConfig(prev, cfg);
    this.opts.notifier().reloading();
    try {
      const prepared: Reconfigurable[] = [];
      try {
        for (const p of this.participants) {
          if (!p.prepare) continue;
          await p.prepare(next, prev, diff);
          prepared.push(p);
        }
      } catch (err) {
        for (const p of prepared) await p.discard?.();
        throw err;
      }
      this.loaded = next;
      for (const p of this.participants) await p.apply(cfg, prev, diff);
      if (diff.outbox) this.opts.logger.warn('outbox settings change takes effect at the next start');
      this.lastError = null;
      this.opts.bus.emit('config.applied', { loaded: next });
      this.opts.logger.info({ hash: next.hash, diff }, 'config reloaded');
    } finally {
      this.opts.bus.emit('status.changed', {});
      if (!this.opts.stopping()) this.opts.notifier().ready(this.opts.statusLine());
    }
  }
}
