/**
 * The snapshot directory on a real, tiny tmpfs while a camera rejects every frame: filled up, then remounted
 * read-only. Each time the daemon says so once (an error naming the directory, on the status topic too),
 * counts the dropped snapshots, keeps delivering every reject, stays within its memory, and writes snapshots
 * again by itself once there is room or the filesystem is writable.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfigFile } from '../../src/config/load.js';
import { captureLogger } from '../helpers/capture-log.js';
import { MqttRecorder, sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { bump, recordFaults } from '../helpers/fault-results.js';
import { mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { faultDaemonConfig, hasFfmpeg, loopedRejectCamera, rejectedImage } from '../helpers/reject-line.js';
import { remount, tmpfs } from '../helpers/tmpfs.js';

const skip = mosquittoSkip() || (!hasFfmpeg && 'ffmpeg not installed');

/** Fills the filesystem of dir with one file, 64 KiB at a time, until it refuses (bounded: at most 64 MiB). */
function fill(dir: string): string {
  const file = path.join(dir, 'filler.bin');
  const chunk = Buffer.alloc(64 * 1024);
  writeFileSync(file, '');
  for (let i = 0; i < 1024; i++) {
    try {
      writeFileSync(file, chunk, { flag: 'a' });
    } catch {
      return file;
    }
  }
  throw new Error(`${dir} did not fill up`);
}

test('snapshot directory full, then read-only: said once naming it, drops counted, rejects unaffected, recovers by itself', { skip, timeout: 120_000 }, async (t) => {
  const mnt = tmpfs(t, '1m', 'test/unit/snapshots.test.ts covers the bounds without a mount');
  if (!mnt) return;
  const tmp = tempDir('inspectd-snapdisk-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const rec = new MqttRecorder();
  await rec.start(broker.url, 'inspectd/snap/#');
  t.after(() => rec.stop());
  const image = await rejectedImage(tmp.dir);
  const snapDir = path.join(mnt, 'snapshots');
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  writeYaml(cfgFile, {
    ...faultDaemonConfig(tmp.dir, 'snap', [loopedRejectCamera('cam1', image)], { url: broker.url }),
    snapshots: { enabled: true, dir: snapDir, maxFiles: 100_000, maxBytes: 256 * 1024 * 1024 },
  });
  const log = captureLogger('info');
  const daemon = new Daemon({ loaded: await loadConfigFile(cfgFile), logger: log.logger, statusIntervalMs: 300 });
  t.after(() => daemon.stop().catch(() => undefined));
  await daemon.start();
  const snaps = () => readdirSync(snapDir).filter((n) => n.endsWith('.jpg')).length;
  const lastStatus = () => rec.json<{ snapshotError?: string | null }>('/status/json').at(-1);
  const dropped = async () => {
    const text = await daemon.metricsRegistry!.registry.metrics();
    return Number(/snapshots_dropped_total\{reason="error"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  const errorLines = (re: RegExp) => log.lines().filter((l) => Number(l.level) >= 50 && re.test(String(l.msg))).length;
  await rec.until(() => snaps() >= 2, 60_000, 'the first snapshots');
  const rss0 = process.memoryUsage().rss;
  let peakRss = rss0;
  const faults: Record<string, number> = {};
  let maxRecoveryMs = 0;

  for (const fault of ['full', 'read-only'] as const) {
    const filler = fault === 'full' ? fill(mnt) : undefined;
    if (fault === 'read-only') remount(mnt, true);
    bump(faults, `snapshot dir ${fault}`);
    const code = fault === 'full' ? 'ENOSPC' : 'EROFS';
    await rec.until(
      () => new RegExp(code).test(lastStatus()?.snapshotError ?? ''),
      15_000,
      () => `status says ${code}: ${JSON.stringify(lastStatus())}`,
    );
    assert.ok(lastStatus()!.snapshotError!.includes(snapDir), `the directory is named: ${lastStatus()!.snapshotError}`);
    const droppedAt = await dropped();
    const rejectsAt = rec.on('/reject').length;
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    assert.ok((await dropped()) > droppedAt, 'snapshots dropped and counted');
    assert.ok(rec.on('/reject').length >= rejectsAt + 4, 'rejects keep coming');
    assert.equal(errorLines(new RegExp(`snapshots directory .*${code}`)), 1, 'said once, not once per reject');
    assert.equal(daemon.health().ok, true, 'snapshots are a convenience: the daemon stays healthy');

    if (filler) rmSync(filler);
    else remount(mnt, false);
    const fixedAt = Date.now();
    const before = snaps();
    await rec.until(
      () => snaps() > before && lastStatus()?.snapshotError === null,
      15_000,
      () => `snapshots again: ${JSON.stringify(lastStatus())}`,
    );
    maxRecoveryMs = Math.max(maxRecoveryMs, Date.now() - fixedAt);
  }
  await daemon.stop();
  const produced = daemon.pipelineStats!.counters('cam1')!.rejects;
  await rec.until(
    () => rec.on('/reject').length >= produced,
    10_000,
    () => `all ${produced} rejects`,
  );
  const delivered = new Set(rec.json<{ key: string }>('/reject').map((r) => r.key)).size;
  const growthMb = Math.round((peakRss - rss0) / 1e6);
  recordFaults({ test: 'snapshot dir full / read-only', faults, crashes: 0, produced, delivered, maxRecoveryMs });
  t.diagnostic(`${produced} rejects; snapshots dropped ${await dropped()}; rss growth ${growthMb} MB; recovery within ${maxRecoveryMs} ms`);
  assert.equal(delivered, produced, 'every reject delivered');
  assert.ok(growthMb < 300, `memory bounded: rss grew ${growthMb} MB`);
});
