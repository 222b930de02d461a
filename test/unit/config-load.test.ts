import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ErrorCodes } from '../../src/errors.js';
import { DEMO_REJECT_CLASSES, embeddedDefaults } from '../../src/config/defaults.js';
import { ConfigInvalidError, deviceIdWarnings, loadConfigFile, parseConfigText, topicSafeHostname } from '../../src/config/load.js';
import { baseTopicProblem } from '../../src/config/schema.js';
import { editorSchemaText } from '../../src/config/write-schema.js';
import { silentLogger } from '../../src/ops/log.js';
import { MqttSink } from '../../src/sink/mqtt-sink.js';
import { Outbox } from '../../src/sink/outbox.js';
import { repoPath } from '../helpers/fixtures.js';

const MIN = `model:
  path: m.onnx
cameras:
  - id: cam1
    source: {type: synthetic}
`;

function problemsOf(text: string, file = '/etc/inspectd/config.yaml'): string[] {
  try {
    parseConfigText(text, file, path.dirname(file));
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${String(err)}`);
    assert.equal(err.code, ErrorCodes.CONFIG_INVALID);
    return err.message.split('\n').slice(1);
  }
  assert.fail('config was accepted');
}

test('a bad value names file:line:column and the key path', { timeout: 5000 }, () => {
  const text = `model:
  path: m.onnx
cameras:
  - id: cam1
    source:
      type: ffmpeg
      input: /dev/video0
      width: 640
      height: 480
      fps: 0
`;
  const lines = problemsOf(text);
  assert.deepEqual(lines, ['/etc/inspectd/config.yaml:10:12 cameras[0].source.fps: must be > 0']);
});

test('all problems are reported at once, in file order', { timeout: 5000 }, () => {
  const text = `model:
  path: m.onnx
  conf: 1.5
cameras:
  - id: "bad id"
    source: {type: folder}
    rules:
      rejectClasses: [scratch, ""]
      zones:
        - name: z
          polygon: [[0, 0], [1, 1]]
  - id: cam2
    source: {type: synthetic}
  - id: cam2
    source: {type: webcam}
mqtt:
  url: http://broker:1883
`;
  const lines = problemsOf(text, '/cfg/c.yaml');
  assert.deepEqual(lines, [
    '/cfg/c.yaml:3:9 model.conf: must be <= 1',
    '/cfg/c.yaml:5:9 cameras[0].id: must contain only letters, digits, _ and - (it is used in MQTT topics)',
    '/cfg/c.yaml:6:13 cameras[0].source.path: is required',
    '/cfg/c.yaml:8:32 cameras[0].rules.rejectClasses[1]: must not be empty',
    '/cfg/c.yaml:11:20 cameras[0].rules.zones[0].polygon: needs at least 3 points',
    "/cfg/c.yaml:14:9 cameras[2].id: duplicate camera id 'cam2' (also cameras[1].id); ids must be unique",
    '/cfg/c.yaml:15:20 cameras[2].source.type: must be one of "synthetic", "ffmpeg", "gstreamer", "folder"',
    "/cfg/c.yaml:17:8 mqtt.url: unsupported broker URL scheme 'http': use mqtt://host:1883, mqtts://host:8883, ws:// or wss://",
  ]);
});

test('unknown keys are errors and point at the key, suggesting the closest known one', { timeout: 5000 }, () => {
  const text = MIN.replace('    source: {type: synthetic}\n', '    source: {type: synthetic, fsp: 3}\n    stalTimeoutMs: 100\n') + 'mqtt:\n  baseTopik: x\nwhatever: 1\n';
  const lines = problemsOf(text, 'c.yaml');
  assert.deepEqual(lines.slice(0, 3), [
    "c.yaml:5:31 cameras[0].source.fsp: unknown key (did you mean 'fps'?)",
    "c.yaml:6:5 cameras[0].stalTimeoutMs: unknown key (did you mean 'stallTimeoutMs'?)",
    "c.yaml:8:3 mqtt.baseTopik: unknown key (did you mean 'baseTopic'?)",
  ]);
  assert.match(lines[3], /^c\.yaml:9:1 whatever: unknown key; known keys: .*model.*cameras/);
});

test('YAML syntax errors carry line and column', { timeout: 5000 }, () => {
  const lines = problemsOf('model:\n  path: [unclosed\ncameras: []\n', 'c.yaml');
  assert.ok(lines.length >= 1);
  assert.match(lines[0], /^c\.yaml:\d+:\d+ YAML: /);
});

test('missing required sections are named', { timeout: 5000 }, () => {
  const lines = problemsOf('', 'empty.yaml');
  assert.deepEqual(lines, ['empty.yaml:1:1 model: is required', 'empty.yaml:1:1 cameras: is required']);
});

test('defaults fill every optional key; the result is deeply frozen', { timeout: 5000 }, () => {
  const { config, hash, source } = parseConfigText(MIN + 'http:\n', '/x/c.yaml', '/x');
  assert.equal(source, '/x/c.yaml');
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.deepEqual(config.model, {
    path: '/x/m.onnx',
    engine: 'auto',
    threads: 0,
    interOpThreads: 1,
    spin: 'during-runs',
    conf: 0.25,
    iou: 0.7,
    maxDetections: 300,
    engineCacheDir: config.model.engineCacheDir,
  });
  assert.deepEqual(config.cameras[0].source, {
    type: 'synthetic',
    fps: 5,
    width: 640,
    height: 480,
    seed: 1,
    defectRate: 0.3,
    scene: 'conveyor',
    beltPxPerFrame: 64,
    lossless: false,
  });
  assert.equal(config.cameras[0].decision, 'part', 'a free-running camera tracks parts');
  assert.deepEqual(config.cameras[0].parts, {
    minFrames: 2,
    highConf: 0.9,
    requireWhole: true,
    maxAgeMs: 10_000,
    publishPass: true,
    failSafe: 'reject',
    decisionLine: { position: 0.5 },
    tracker: { highConf: 0.5, lowConf: 0.1, newTrackConf: 0.6, matchIou: 0.2, lowMatchIou: 0.5, probationFrames: 2, lostFrames: 10, duplicateIou: 0.5 },
    belt: { direction: 'none' },
  });
  assert.equal(config.cameras[0].deadlineMs, 500);
  assert.equal(config.cameras[0].stallTimeoutMs, 5000);
  assert.equal(config.cameras[0].frozenFrames, 0);
  assert.deepEqual(config.cameras[0].rules, { rejectClasses: [], classConf: {}, minBoxArea: 0, zones: [] });
  assert.equal(config.mqtt.url, undefined);
  assert.equal(config.mqtt.baseTopic, 'inspectd');
  assert.deepEqual(config.mqtt.embedded, { host: '127.0.0.1', port: 1883 });
  assert.deepEqual(
    config.http,
    {
      enabled: true,
      host: '127.0.0.1',
      port: 9310,
      maxQueueMs: 2000,
      api: { enabled: true, maxQueue: 16, maxConcurrent: 32, maxDecoding: 2, maxBodyBytes: 32 * 1024 * 1024, maxPixels: 40_000_000, retryAfterSec: 1 },
    },
    'an empty `http:` means defaults',
  );
  assert.equal(config.outbox.maxBytes, 64 * 1024 * 1024);
  assert.deepEqual(config.console, { summary: 'auto', intervalMs: 2000 });
  assert.ok(config.device.id.length > 0);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.cameras[0].rules.rejectClasses));
  assert.throws(() => {
    (config.cameras[0] as { deadlineMs: number }).deadlineMs = 1;
  }, TypeError);
});

test('relative paths resolve against the config file folder; URLs and devices are left alone', { timeout: 5000 }, () => {
  const text = `model: {path: models/m.onnx, labels: ../labels.txt}
cameras:
  - id: a
    source: {type: folder, path: incoming}
  - id: b
    source: {type: ffmpeg, input: clips/a.mp4, width: 64, height: 48}
  - id: c
    source: {type: ffmpeg, input: "rtsp://u:p@cam/1", width: 64, height: 48}
  - id: d
    source: {type: ffmpeg, input: "testsrc=size=64x48", inputFormat: lavfi, width: 64, height: 48}
outbox: {dir: var/outbox}
snapshots: {dir: /abs/snaps}
`;
  const { config } = parseConfigText(text, '/etc/inspectd/config.yaml', '/etc/inspectd');
  assert.equal(config.model.path, '/etc/inspectd/models/m.onnx');
  assert.equal(config.model.labels, '/etc/labels.txt');
  const folder = config.cameras[0].source;
  assert.ok(folder.type === 'folder');
  assert.equal(folder.path, '/etc/inspectd/incoming');
  assert.equal(folder.doneDir, '/etc/inspectd/incoming/done');
  assert.equal(folder.quarantineDir, '/etc/inspectd/incoming/quarantine');
  assert.equal((config.cameras[1].source as { input: string }).input, '/etc/inspectd/clips/a.mp4');
  assert.equal((config.cameras[2].source as { input: string }).input, 'rtsp://u:p@cam/1');
  assert.equal((config.cameras[3].source as { input: string }).input, 'testsrc=size=64x48');
  assert.equal(config.outbox.dir, '/etc/inspectd/var/outbox');
  assert.equal(config.snapshots.dir, '/abs/snaps');
});

test('tls files must exist (resolved against the config folder)', { timeout: 5000 }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'ca.pem'), 'x');
  const text = MIN + 'mqtt:\n  url: mqtts://b:8883\n  tls: {ca: ca.pem, cert: client.pem}\n';
  const file = path.join(dir, 'c.yaml');
  const lines = problemsOf(text, file);
  assert.deepEqual(lines, [`${file}:8:27 mqtt.tls.cert: file not found: ${path.join(dir, 'client.pem')}`]);
  const ok = parseConfigText(MIN + 'mqtt:\n  url: mqtts://b:8883\n  tls: {ca: ca.pem}\n', file, dir);
  assert.equal(ok.config.mqtt.tls?.ca, path.join(dir, 'ca.pem'));
  assert.equal(ok.config.mqtt.tls?.rejectUnauthorized, true);
});

test('the hash depends on content, not on key order or comments', { timeout: 5000 }, () => {
  const a = parseConfigText(MIN + 'http: {port: 1, host: h}\n', 'a.yaml', '/x');
  const b = parseConfigText('# comment\n' + MIN + 'http: {host: h, port: 1}\n', 'b.yaml', '/x');
  const c = parseConfigText(MIN + 'http: {host: h, port: 2}\n', 'c.yaml', '/x');
  assert.equal(a.hash, b.hash);
  assert.notEqual(a.hash, c.hash);
});

test('outbox and snapshot dirs default under $STATE_DIRECTORY when systemd sets it', { timeout: 5000 }, (t) => {
  const prev = process.env.STATE_DIRECTORY;
  t.after(() => {
    if (prev === undefined) delete process.env.STATE_DIRECTORY;
    else process.env.STATE_DIRECTORY = prev;
  });
  process.env.STATE_DIRECTORY = '/var/lib/inspectd';
  const { config } = parseConfigText(MIN, 'c.yaml', '/x');
  assert.equal(config.outbox.dir, '/var/lib/inspectd/outbox');
  assert.equal(config.snapshots.dir, '/var/lib/inspectd/snapshots');
  delete process.env.STATE_DIRECTORY;
  const local = parseConfigText(MIN, 'c.yaml', '/x');
  assert.equal(local.config.outbox.dir, path.join(process.cwd(), 'var', 'outbox'));
});

test('embedded defaults: demo model under the package root, one synthetic camera, embedded broker', { timeout: 5000 }, () => {
  const { config, source, hash } = embeddedDefaults('/opt/inspectd');
  assert.equal(source, '<embedded defaults>');
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(config.model.path, '/opt/inspectd/models/demo/inspectd-demo.onnx');
  assert.equal(config.cameras.length, 1);
  assert.equal(config.cameras[0].id, 'line1');
  assert.deepEqual(config.cameras[0].source, {
    type: 'synthetic',
    fps: 5,
    width: 640,
    height: 480,
    seed: 7,
    defectRate: 0.3,
    scene: 'conveyor',
    beltPxPerFrame: 64,
    lossless: false,
  });
  assert.deepEqual(config.cameras[0].rules.rejectClasses, [...DEMO_REJECT_CLASSES]);
  // One verdict per plate: the demo model detects the plate itself; the belt runs 64 px/frame at 5 fps, 0.5 mm/px.
  assert.equal(config.cameras[0].decision, 'part');
  assert.equal(config.cameras[0].parts.partClass, 'plate');
  assert.deepEqual(config.cameras[0].parts.belt, { direction: 'left-to-right', mmPerPixel: 0.5, speedMmPerS: 160, ejectorDistanceMm: 300 });
  assert.equal(config.mqtt.url, undefined);
  assert.equal(config.snapshots.enabled, true);
  assert.equal(config.snapshots.maxFiles, 500);
  assert.equal(config.outbox.rejectTtlMs, 2000);
  assert.equal(config.outbox.maxAgeMs, 24 * 3600 * 1000);
  assert.match(config.device.id, /^[A-Za-z0-9_-]+$/);
});

test('deploy/config.example.yaml is valid and uses every source type', { timeout: 5000 }, async () => {
  const { config } = await loadConfigFile(repoPath('deploy', 'config.example.yaml'));
  assert.deepEqual(new Set(config.cameras.map((c) => c.source.type)), new Set(['ffmpeg', 'gstreamer', 'folder', 'synthetic']));
});

test('loadConfigFile on a missing file throws CONFIG_READ', { timeout: 5000 }, async () => {
  await assert.rejects(loadConfigFile('/nonexistent/inspectd.yaml'), { code: ErrorCodes.CONFIG_READ, message: /cannot read config file \/nonexistent/ });
});

test('schema/inspectd.schema.json is in sync with src/config/schema.ts', { timeout: 5000 }, () => {
  const onDisk = readFileSync(repoPath('schema', 'inspectd.schema.json'), 'utf8');
  assert.equal(onDisk, editorSchemaText(), 'regenerate: node dist/src/config/write-schema.js');
});

test('the editor schema (draft-07) accepts the example and rejects an unknown source key', { timeout: 5000 }, () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(repoPath('schema', 'inspectd.schema.json'), 'utf8')));
  const example = parseYaml(readFileSync(repoPath('deploy', 'config.example.yaml'), 'utf8'));
  assert.equal(validate(example), true, JSON.stringify(validate.errors));
  example.cameras[0].source.inputFormatt = 'v4l2';
  assert.equal(validate(example), false);
});

test('mqtt.baseTopic: one check for the loader (with file:line) and the MQTT sink (configs built in code)', { timeout: 5000 }, async () => {
  for (const bad of ['a/+/b', 'a/#', 'a//b', '/a', 'a/', 'a\u0000b']) {
    assert.match(baseTopicProblem(bad) ?? '', /must not contain MQTT wildcards/, JSON.stringify(bad));
  }
  assert.equal(baseTopicProblem('plant2/line-1'), undefined);
  assert.deepEqual(problemsOf(MIN + 'mqtt:\n  baseTopic: plant//x\n', 'c.yaml'), [
    'c.yaml:7:14 mqtt.baseTopic: must not contain MQTT wildcards (+ #), NUL, empty levels or leading/trailing /',
  ]);
  const { config } = parseConfigText(MIN, 'c.yaml', '/x');
  const outbox = new Outbox({ config: config.outbox, logger: silentLogger() });
  const sink = new MqttSink({
    mqtt: { ...config.mqtt, url: 'mqtt://127.0.0.1:1', baseTopic: 'plant//x' },
    outbox,
    deviceId: 'dev1',
    logger: silentLogger(),
    version: '0.0.0-test',
  });
  await assert.rejects(sink.start(new AbortController().signal), {
    code: ErrorCodes.CONFIG_INVALID,
    message: 'mqtt.baseTopic "plant//x" is not a valid topic prefix: it must not contain MQTT wildcards (+ #), NUL, empty levels or leading/trailing /',
  });
});

test('mqtt.url must be a URL the client can connect to: parseable, a broker scheme, a host', { timeout: 5000 }, () => {
  const USE = 'use mqtt://host:1883, mqtts://host:8883, ws:// or wss://';
  const cases: [string, string][] = [
    ['mqtt://u:p@[bad', `is not a valid URL: ${USE}`],
    ['mqtt://broker:99999', `is not a valid URL: ${USE}`],
    ['mqtt://', `has no host: ${USE}`],
    ['mqtts:///x', `has no host: ${USE}`],
    ['http://broker:1883', `unsupported broker URL scheme 'http': ${USE}`],
    ['broker:1883', `unsupported broker URL scheme: ${USE}`],
  ];
  for (const [url, message] of cases) {
    assert.deepEqual(problemsOf(MIN + `mqtt:\n  url: "${url}"\n`, 'c.yaml'), [`c.yaml:7:8 mqtt.url: ${message}`], url);
  }
  for (const url of ['mqtt://u:p@broker:1883', 'mqtts://broker.local', 'ws://[::1]:9001/mqtt', 'wss://b/mqtt', 'tcp://10.0.0.2', 'ssl://b:8883', 'tls://b:8883']) {
    assert.equal(parseConfigText(MIN + `mqtt:\n  url: "${url}"\n`, 'c.yaml', '/x').config.mqtt.url, url);
  }
});

test('a trigger-mode camera needs commands.trigger: refused with file:line until it is enabled', () => {
  const text = ['model: { path: m.onnx }', 'cameras:', '  - id: t1', '    source: { type: synthetic }', '    trigger: true', ''].join('\n');
  assert.throws(() => parseConfigText(text, 'c.yaml', '/tmp'), {
    code: 'INSPECTD_ERR_CONFIG_INVALID',
    message: /c\.yaml:5:\d+ cameras\[0\]\.trigger: a trigger-mode camera needs cmd\/trigger: set commands: \{ trigger: true \}/,
  });
  const ok = parseConfigText(text + 'commands: { trigger: true }\n', 'c.yaml', '/tmp');
  assert.deepEqual(ok.config.commands, { reload: false, pause: false, resume: false, trigger: true, encoder: false });
});

test('decision: part for video cameras, frame in trigger mode and for a hot folder; part with trigger is refused at its line', { timeout: 5000 }, () => {
  const cams = (extra: string) => `commands: { trigger: true }\nmodel:\n  path: m.onnx\ncameras:\n${extra}`;
  const { config } = parseConfigText(
    cams(
      [
        '  - {id: live, source: {type: synthetic}}',
        '  - {id: trig, source: {type: synthetic}, trigger: true}',
        '  - {id: dir, source: {type: folder, path: /in}}',
        '  - {id: forced, source: {type: synthetic}, decision: frame}',
        '  - {id: folderparts, source: {type: folder, path: /in2}, decision: part}',
        '',
      ].join('\n'),
    ),
    'c.yaml',
    '/x',
  );
  assert.deepEqual(
    config.cameras.map((c) => [c.id, c.decision]),
    [
      ['live', 'part'],
      ['trig', 'frame'],
      ['dir', 'frame'],
      ['forced', 'frame'],
      ['folderparts', 'part'],
    ],
  );
  assert.deepEqual(problemsOf(cams('  - id: t\n    source: {type: synthetic}\n    trigger: true\n    decision: part\n'), '/c.yaml'), [
    "/c.yaml:8:15 cameras[0].decision: decision 'part' tracks parts on a free-running camera; in trigger mode each trigger judges one frame: use decision: frame (the default with trigger)",
  ]);
});

test('parts settings: bounded, closed, and the belt direction is one of the five', { timeout: 5000 }, () => {
  const cam = (parts: string) => `${MIN}    parts: ${parts}\n`;
  assert.equal(
    parseConfigText(cam('{partClass: plate, belt: {direction: top-to-bottom, speedMmPerS: 250, mmPerPixel: 0.2, ejectorDistanceMm: 400}}'), 'c.yaml', '/x').config.cameras[0].parts
      .belt.speedMmPerS,
    250,
  );
  const problems = problemsOf(cam('{minFrames: 0, highConf: 2, belt: {direction: sideways}, tracker: {lostFrames: -1}, decisionLine: {position: 1.5}, bogus: 1}'), '/c.yaml');
  assert.equal(problems.length, 6, problems.join('\n'));
  assert.ok(
    problems.some((p) => /parts\.belt\.direction: must be one of/.test(p)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => /parts: unknown key 'bogus'/.test(p) || /bogus/.test(p)),
    problems.join('\n'),
  );
});

test('device.id: topic-safe, at most 64 long; a host name OS images ship with is warned about when it would be the id', { timeout: 5000 }, () => {
  assert.equal(parseConfigText(`device: {id: press-line-7}\n${MIN}`, '/c.yaml', '/').config.device.id, 'press-line-7');
  assert.match(problemsOf(`device: {id: 'line/7'}\n${MIN}`).join('\n'), /device\.id/);
  assert.match(problemsOf(`device: {id: ${'a'.repeat(65)}}\n${MIN}`).join('\n'), /device\.id.*64/);
  assert.ok(topicSafeHostname().length <= 64 && /^[A-Za-z0-9_-]+$/.test(topicSafeHostname()));
  assert.deepEqual(deviceIdWarnings('press-line-7', 'raspberrypi'), [], 'a configured id is the user’s choice');
  assert.deepEqual(deviceIdWarnings(undefined, 'press-line-7'), [], 'an own host name is fine');
  for (const host of ['localhost', 'raspberrypi', 'ubuntu', 'Jetson']) {
    const [w] = deviceIdWarnings(undefined, host);
    assert.match(w ?? '', new RegExp(`host name "${host}".*set device\\.id`), host);
  }
});
