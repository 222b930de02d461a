export type * from './types.js';
export { loadConfigFile, parseConfigText, validateConfigObject, configHash, formatProblem, ConfigInvalidError, EMBEDDED_SOURCE } from './load.js';
export type { LoadedConfig, ConfigProblem } from './load.js';
export { embeddedDefaults, DEMO_REJECT_CLASSES } from './defaults.js';
export { diffConfig, isEmptyDiff } from './diff.js';
export type { ConfigDiff } from './diff.js';
export { ConfigWatcher } from './watch.js';
export type { ConfigWatcherOptions } from './watch.js';
