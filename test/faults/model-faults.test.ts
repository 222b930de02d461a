/**
 * The model file under a running daemon (real onnxruntime): deleted, then replaced by a corrupt file, then by a
 * model with another class list (the rules name classes it lacks), each followed by an edit that needs the model
 * loaded again. Each reload is refused and said on the status topic naming the problem, the old model keeps
 * serving (rejects keep coming), and putting the right model back is applied.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/ops/log.js';
import { MqttRecorder, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { recordFaults } from '../helpers/fault-results.js';
import { repoPath } from '../helpers/fixtures.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { DEMO_MODEL, faultDaemonConfig, hasFfmpeg, loopedRejectCamera, rejectedImage } from '../helpers/reject-line.js';

const skip = mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');

test('model file deleted, corrupted, or of another class list under a running daemon: reloads refused and said, the old model serves', { skip, timeout: 120_000 }, async (t) => {
  const tmp = tempDir('inspectd-modelfault-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/mdl/#');
  t.after(() => rec.stop());
  const image = await rejectedImage(tmp.dir);
  const model = path.join(tmp.dir, 'model.onnx');
  copyFileSync(DEMO_MODEL, model);
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const write = (threads: number) => {
    const base = faultDaemonConfig(tmp.dir, 'mdl', [loopedRejectCamera('cam1', image, 2)], { url: broker.url });
    writeYaml(cfgFile, { ...base, model: { path: model, engine: 'cpu', threads } });
  };
  write(1);
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), configPath: cfgFile, logger: silentLogger() });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const rejects = () => rec.on('/cam1/reject').length;
  const lastConfigError = () => rec.json<{ lastConfigError?: { at: string; message: string } | null }>('/status/json').at(-1)?.lastConfigError;
  const lastError = () => lastConfigError()?.message ?? '';
  await rec.until(() => rejects() >= 2, 60_000, 'the first rejects');

  const faults = [
    { kind: 'model file deleted', make: () => rmSync(model), says: /model\.onnx/ },
    { kind: 'model file corrupt', make: () => writeFileSync(model, Buffer.from('not an onnx model at all')), says: /model\.onnx/ },
    { kind: 'model with another class list', make: () => copyFileSync(repoPath('test', 'assets', 'tiny-v8.onnx'), model), says: /dent|scratch|class/ },
  ];
  let threads = 1;
  for (const f of faults) {
    f.make();
    const before = rejects();
    const previous = lastConfigError()?.at;
    write(++threads); // threads changed: the model must be loaded again
    await rec.until(
      () => lastConfigError()?.at !== previous && f.says.test(lastError()),
      30_000,
      () => `${f.kind}: refused and said: ${lastError()}`,
    );
    await rec.until(() => rejects() >= before + 2, 30_000, `${f.kind}: the old model keeps serving`);
    assert.equal(daemon.config.model.threads, 1, `${f.kind}: the running config stays`);
    t.diagnostic(`${f.kind}: ${lastError().slice(0, 200)}`);
  }
  copyFileSync(DEMO_MODEL, model);
  const fixedAt = Date.now();
  write(++threads);
  await rec.until(() => daemon.config.model.threads === threads, 30_000, 'the right model back: applied');
  const recoveryMs = Date.now() - fixedAt;
  const before = rejects();
  await rec.until(() => rejects() > before, 30_000, 'rejects with the reloaded model');
  await daemon.stop();
  const produced = daemon.pipelineStats!.counters('cam1')!.rejects;
  await rec.until(() => rejects() >= produced, 10_000, 'all rejects');
  recordFaults({
    test: 'model file deleted / corrupt / other classes',
    faults: Object.fromEntries(faults.map((f) => [f.kind, 1])),
    crashes: 0,
    produced,
    delivered: new Set(rec.json<{ key: string }>('/cam1/reject').map((r) => r.key)).size,
    maxRecoveryMs: recoveryMs,
  });
});
