/**
 * The validated config, as every part receives it (frozen). The YAML file uses exactly these keys
 * (camelCase, no mapping layer). Every type here is derived from the schema values in schema.ts (the one
 * place that defines keys, limits and defaults); only the machine-dependent defaults that load.ts fills in
 * are added here, as keys that are optional in the file and present in the resolved Config.
 */
import type { Static } from '@sinclair/typebox';
import type { EnginePreference } from '../contracts/engine.js';
import type * as S from './schema.js';

/** T with the keys K present (load.ts filled them in). */
type Resolved<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> };

/** What the schema guarantees after validation (defaults applied); machine-dependent keys may still be absent. */
export type ValidatedConfig = Static<typeof S.ConfigSchema>;
export type ValidatedCameraConfig = ValidatedConfig['cameras'][number];

export type DeviceConfig = Resolved<Static<typeof S.DeviceSchema>, 'id'>;
export type LogConfig = Static<typeof S.LogSchema>;
export type ModelConfig = Resolved<Static<typeof S.ModelSchema>, 'engineCacheDir'>;

export type SyntheticSourceConfig = Static<typeof S.SyntheticSourceSchema>;
export type FfmpegSourceConfig = Static<typeof S.FfmpegSourceSchema>;
export type GstreamerSourceConfig = Static<typeof S.GstreamerSourceSchema>;
export type ValidatedFolderSourceConfig = Static<typeof S.FolderSourceSchema>;
/** Processed files go to doneDir, unreadable ones to quarantineDir (defaults <path>/done, <path>/quarantine). */
export type FolderSourceConfig = Resolved<ValidatedFolderSourceConfig, 'doneDir' | 'quarantineDir'>;
export type SourceConfig = SyntheticSourceConfig | FfmpegSourceConfig | GstreamerSourceConfig | FolderSourceConfig;

export type Zone = Static<typeof S.ZoneSchema>;
export type RulesConfig = Static<typeof S.RulesSchema>;
export type PartsConfig = Static<typeof S.PartsSchema>;
export type TrackerConfig = Static<typeof S.TrackerSchema>;
export type BeltConfig = Static<typeof S.BeltSchema>;
export type Decision = (typeof S.DECISIONS)[number];
/** `decision` is filled in by load.ts: part, or frame in trigger mode. */
export type CameraConfig = Omit<ValidatedCameraConfig, 'source' | 'decision'> & { source: SourceConfig; decision: Decision };

export type TlsConfig = Static<typeof S.TlsSchema>;
export type MqttConfig = Static<typeof S.MqttSchema>;
export type OutboxConfig = Resolved<Static<typeof S.OutboxSchema>, 'dir'>;
export type SnapshotConfig = Resolved<Static<typeof S.SnapshotSchema>, 'dir'>;
export type HttpConfig = Static<typeof S.HttpSchema>;
/** Where the status line goes when run from a terminal (npm start): 'auto' prints it only on a TTY. */
export type ConsoleConfig = Static<typeof S.ConsoleSchema>;
export type CommandsConfig = Static<typeof S.CommandsSchema>;
export type SparkplugConfig = Static<typeof S.SparkplugSchema>;

/** The config with every default filled in, machine-dependent ones included. */
export type Config = Omit<ValidatedConfig, 'device' | 'model' | 'cameras' | 'outbox' | 'snapshots'> & {
  device: DeviceConfig;
  model: ModelConfig;
  cameras: CameraConfig[];
  outbox: OutboxConfig;
  snapshots: SnapshotConfig;
};

// The schema's engine enum must name exactly the engine contract's preferences (compile error otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type EngineEnumMatchesContract = Assert<Same<ModelConfig['engine'], EnginePreference>>;
