/**
 * MQTT commands against the daemon on a real mosquitto: a retained command is not replayed at start, a
 * payload that does not validate pauses nothing (refused and counted), triggers go only to trigger-mode
 * cameras that are not paused, pausing every camera takes an explicit form, and a command not enabled in
 * config is ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { MqttRecorder, ScriptedDetector, tempDir, writeYaml } from '../helpers/daemon-harness.js';

test('MQTT commands: retained ignored, malformed refused (never widened), triggers only where they can be judged', { skip: mosquittoSkip(), timeout: 60_000 }, async (t) => {
  const tmp = tempDir('inspectd-cmd-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/cmds/#');
  t.after(() => rec.stop());
  // Left on the broker by someone else: must not pause the line at start.
  await rec.publish('inspectd/cmds/cmd/pause', '', { retain: true });

  const modelFile = path.join(tmp.dir, 'model.onnx');
  writeFileSync(modelFile, 'not read by the scripted detector');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, {
    device: { id: 'cmds' },
    model: { path: modelFile },
    cameras: [
      { id: 'cam1', source: { type: 'synthetic', fps: 20, width: 64, height: 48 }, rules: { rejectClasses: ['scratch'] } },
      { id: 'cam2', source: { type: 'synthetic', fps: 20, width: 64, height: 48, seed: 2 }, trigger: true, rules: { rejectClasses: ['scratch'] } },
    ],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false },
    http: { enabled: false },
    console: { summary: 'off' },
    commands: { pause: true, resume: true, trigger: true },
  });
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    logger: silentLogger(),
    parts: { loadDetector: async () => new ScriptedDetector(), watchdogIntervalMs: async () => null },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const p = daemon.pipelineStats!;
  const stats = () => daemon.statusInfo().commands as { accepted: number; refused: number; disabled: number; lastRefused: { reason: string } | null };
  await rec.until(() => rec.on('cam1/detections').length >= 2, 10_000, 'cam1 streams');
  assert.equal(p.isPaused('cam1'), false, 'a retained cmd/pause is not replayed at start');

  const malformed = ['not json', '{"cam":"slides"}', '{"camera":123}', '["cam1"]', '"cam1"', 'null', '[1,2]'];
  for (const text of malformed) await rec.publish('inspectd/cmds/cmd/pause', text);
  await rec.until(
    () => stats().refused >= malformed.length,
    5000,
    () => `refused ${stats().refused}`,
  );
  assert.equal(p.isPaused('cam1') || p.isPaused('cam2'), false, 'no malformed payload paused anything');

  await rec.publish('inspectd/cmds/cmd/pause', '{"camera":"nope"}');
  await rec.until(() => /unknown camera 'nope'/.test(stats().lastRefused?.reason ?? ''), 5000, 'unknown camera refused');

  await rec.publish('inspectd/cmds/cmd/trigger', '{"camera":"cam1","partId":"P-1"}');
  await rec.until(() => /not in trigger mode/.test(stats().lastRefused?.reason ?? ''), 5000, 'trigger to a free-running camera refused');

  await rec.publish('inspectd/cmds/cmd/pause', '{"camera":"cam2"}');
  await rec.until(() => p.isPaused('cam2'), 5000, 'cam2 paused');
  assert.equal(p.isPaused('cam1'), false);
  await rec.publish('inspectd/cmds/cmd/trigger', '{"camera":"cam2","partId":"P-2"}');
  await rec.until(() => /paused/.test(stats().lastRefused?.reason ?? ''), 5000, 'trigger to a paused camera refused');
  await rec.publish('inspectd/cmds/cmd/resume', '{"camera":"cam2"}');
  await rec.until(() => !p.isPaused('cam2'), 5000, 'cam2 resumed');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(rec.on('cam2/reject').length, 0, 'the refused trigger judged no frame later');

  await rec.publish('inspectd/cmds/cmd/pause', '{"camera":"*"}');
  await rec.until(() => p.isPaused('cam1') && p.isPaused('cam2'), 5000, 'explicit form pauses every camera');
  assert.equal(stats().refused, malformed.length + 3);
  const text = await daemon.metricsRegistry!.text();
  assert.match(text, /inspectd_commands_total\{command="pause",result="refused"\} 8/);

  // reload is not enabled in this config: ignored and counted, never carried out.
  await rec.publish('inspectd/cmds/cmd/reload', '');
  await rec.publish('inspectd/cmds/cmd/reload', '');
  await rec.until(() => stats().disabled === 2, 5000, 'disabled command counted');
  assert.match(await daemon.metricsRegistry!.text(), /inspectd_commands_total\{command="reload",result="disabled"\} 2/);
});
