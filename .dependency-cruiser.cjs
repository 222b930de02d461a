/**
 * Dependencies point one way: cli -> app -> pipeline/parts -> rules -> vision/inference -> native -> util,
 * with config and contracts at the bottom. `npm run lint:deps` (part of .ci/run) fails on a cycle or on
 * any edge below. Tests and benchmarks may import anything.
 */
const layer = (name) => `^src/${name}/`;
/** The logger type and factory: every layer logs. */
const LOGGER = '^src/ops/log\\.ts$';
const notTo = (...names) => ({ path: names.map((n) => (n === 'main' ? '^src/main\\.ts$' : layer(n))), pathNot: LOGGER });

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'An import cycle: one of the modules must give up its edge (move the shared part down).', from: {}, to: { circular: true } },
    { name: 'contracts-are-leaves', severity: 'error', comment: 'src/contracts holds types every layer shares; it imports only other contracts.', from: { path: layer('contracts') }, to: { path: '^src/', pathNot: layer('contracts') } },
    { name: 'util-is-a-leaf', severity: 'error', comment: 'src/util helpers import nothing of ours but contracts and the error registry.', from: { path: layer('util') }, to: { path: '^src/', pathNot: [layer('util'), layer('contracts'), '^src/errors\\.ts$'] } },
    { name: 'nothing-imports-the-cli', severity: 'error', comment: 'Only src/main.ts dispatches to the CLI; engines, the app and the rest never call up into it.', from: { path: '^src/', pathNot: ['^src/main\\.ts$', layer('cli')] }, to: notTo('cli', 'main') },
    { name: 'only-the-cli-starts-the-app', severity: 'error', comment: 'src/app is the daemon; only `inspectd run` composes it.', from: { path: '^src/', pathNot: [layer('cli'), layer('app')] }, to: notTo('app') },
    { name: 'config-is-low', severity: 'error', comment: 'The config layer is read by everyone and reads only contracts, errors and util.', from: { path: layer('config') }, to: notTo('engine', 'inference', 'vision', 'native', 'pipeline', 'rules', 'parts', 'sink', 'source', 'ops', 'app', 'cli', 'synth', 'eval') },
    { name: 'native-is-low', severity: 'error', comment: 'The addon wrapper knows frames and tensors, not the vision maths or engines above it.', from: { path: layer('native') }, to: notTo('vision', 'engine', 'inference', 'pipeline', 'rules', 'parts', 'sink', 'source', 'app', 'cli', 'config') },
    { name: 'vision-is-pure', severity: 'error', comment: 'src/vision is maths and decoding: no engines, addon, I/O services or app.', from: { path: layer('vision') }, to: notTo('engine', 'inference', 'native', 'pipeline', 'rules', 'parts', 'sink', 'source', 'ops', 'app', 'cli') },
    { name: 'inference-below-pipeline', severity: 'error', comment: 'Engines and the detector serve the pipeline; they never import it, the sinks or the app.', from: { path: [layer('engine'), layer('inference')] }, to: notTo('pipeline', 'rules', 'parts', 'sink', 'source', 'app', 'cli') },
    { name: 'rules-and-parts-are-pure', severity: 'error', comment: 'Rules and part tracking decide; they do not run engines, sources or sinks.', from: { path: [layer('rules'), layer('parts')] }, to: notTo('engine', 'inference', 'native', 'pipeline', 'sink', 'source', 'ops', 'app', 'cli') },
    { name: 'pipeline-below-app', severity: 'error', comment: 'The pipeline hands results to a sink interface; it does not know MQTT, sources or the app.', from: { path: layer('pipeline') }, to: notTo('sink', 'source', 'app', 'cli') },
    { name: 'sinks-below-app', severity: 'error', comment: 'Sinks publish what they are given.', from: { path: layer('sink') }, to: notTo('pipeline', 'rules', 'parts', 'source', 'engine', 'inference', 'app', 'cli') },
    { name: 'sources-below-app', severity: 'error', comment: 'Sources produce frames for whoever listens.', from: { path: layer('source') }, to: notTo('pipeline', 'rules', 'parts', 'sink', 'engine', 'inference', 'app', 'cli') },
    { name: 'ops-below-app', severity: 'error', comment: 'Logging, metrics, systemd and HTTP plumbing serve the app, never the other way round.', from: { path: layer('ops') }, to: notTo('pipeline', 'rules', 'parts', 'sink', 'source', 'engine', 'inference', 'app', 'cli') },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
