import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, InspectdError } from '../../src/errors.js';
import { silentLogger } from '../../src/ops/log.js';
import type { Engine, EngineKind, OutputTensor, TensorSpec } from '../../src/contracts/engine.js';
import { EngineSlot, type EngineSlotOptions } from '../../src/inference/engine-slot.js';

/**
 * An Engine that answers its `value`, holds runs while `hold` is set (until release()), and keeps the
 * contract's rules: dispose refuses while a run is in flight, a disposed or failed engine refuses to run.
 */
class FakeEngine implements Engine {
  readonly inputs: readonly TensorSpec[] = [{ name: 'x', shape: [1, 3, 4, 4], type: 'float32' }];
  readonly outputs: readonly TensorSpec[] = [{ name: 'y', shape: [1, 1], type: 'float32' }];
  failure: string | undefined;
  hold = false;
  running = 0;
  disposed = false;
  /** Runs in flight at each dispose() call that went through. */
  readonly inFlightAtDispose: number[] = [];
  private readonly gates: (() => void)[] = [];

  constructor(
    readonly kind: EngineKind,
    readonly value: number,
  ) {}

  async run(_input: Float32Array, dims: number[]): Promise<OutputTensor[]> {
    if (this.disposed) throw new InspectdError(ErrorCodes.ENGINE_DISPOSED, 'engine was disposed');
    if (this.failure !== undefined) throw new InspectdError(ErrorCodes.ENGINE_RUN, `engine failed: ${this.failure}`);
    this.running++;
    try {
      if (this.hold) await new Promise<void>((resolve) => this.gates.push(resolve));
      // Dying mid-run fails the runs in flight, as OrtEngine does when its worker exits.
      if (this.failure !== undefined) throw new InspectdError(ErrorCodes.ENGINE_RUN, `engine failed: ${this.failure}`);
      return [{ name: 'y', dims: [dims[0], 1], data: Float32Array.of(this.value) }];
    } finally {
      this.running--;
    }
  }

  /** Lets the oldest held run finish. */
  releaseOne(): void {
    this.gates.shift()?.();
  }

  async dispose(): Promise<void> {
    if (this.running > 0) throw new InspectdError(ErrorCodes.ENGINE_BUSY, `${this.running} run(s) in flight`);
    this.inFlightAtDispose.push(this.running);
    this.disposed = true;
  }
}

const DIMS = [1, 3, 4, 4];
const INPUT = new Float32Array(3 * 4 * 4);
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await tick();
  assert.ok(cond(), what);
}

function slotOn(engine: Engine, opts: Partial<EngineSlotOptions> = {}) {
  const changes: [EngineKind, string][] = [];
  const slot = new EngineSlot({
    engine,
    logger: silentLogger(),
    checkFits: async () => undefined,
    reload: () => Promise.reject(new Error('no reload in this test')),
    onChange: (kind, reason) => changes.push([kind, reason]),
    ...opts,
  });
  return { slot, changes };
}

const answer = async (p: Promise<OutputTensor[]>) => (await p)[0].data[0];

test('a swap pins runs in flight to their engine; the next run gets the new one', { timeout: 5000 }, async () => {
  const a = new FakeEngine('ort-cpu', 1);
  const b = new FakeEngine('tensorrt', 2);
  const { slot, changes } = slotOn(a);
  a.hold = true;
  const first = slot.run(INPUT, DIMS);
  await until(() => a.running === 1, 'A is running the first run');
  await slot.adopt(b, 'test: B');
  assert.equal(slot.current, b);
  assert.equal(slot.kind, 'tensorrt');
  assert.deepEqual(changes, [['tensorrt', 'test: B']]);
  assert.equal(await answer(slot.run(INPUT, DIMS)), 2, 'a run started after the swap is B’s');
  a.releaseOne();
  assert.equal(await answer(first), 1, 'the run started before the swap finishes on A');
  await slot.dispose();
});

test('a replaced engine is disposed after its last run in flight, an idle one at once', { timeout: 5000 }, async () => {
  const a = new FakeEngine('ort-cpu', 1);
  const b = new FakeEngine('ort-cuda', 2);
  const c = new FakeEngine('tensorrt', 3);
  const { slot } = slotOn(a);
  a.hold = true;
  const runs = [slot.run(INPUT, DIMS), slot.run(INPUT, DIMS)];
  await until(() => a.running === 2, 'A runs two');
  await slot.adopt(b, 'test: B');
  assert.equal(slot.busy, 0, 'runs on a replaced engine do not count against the current one');
  a.releaseOne();
  assert.equal(await answer(runs[0]), 1);
  await tick();
  assert.equal(a.disposed, false, 'A is not disposed under its second run');
  a.releaseOne();
  assert.equal(await answer(runs[1]), 1);
  await until(() => a.disposed, 'A is disposed once its last run is done');
  assert.deepEqual(a.inFlightAtDispose, [0]);

  await slot.adopt(c, 'test: C');
  await until(() => b.disposed, 'B, idle, is disposed when replaced');
  assert.equal(c.disposed, false);

  // The slot refuses to dispose under a running run, like an engine.
  c.hold = true;
  const held = slot.run(INPUT, DIMS);
  await until(() => c.running === 1, 'C is running');
  assert.equal(slot.busy, 1);
  await assert.rejects(slot.dispose(), { code: ErrorCodes.ENGINE_BUSY });
  c.releaseOne();
  await held;
  await slot.dispose();
  assert.equal(c.disposed, true);
  await assert.rejects(slot.run(INPUT, DIMS), { code: ErrorCodes.ENGINE_DISPOSED });
});

test('an engine that does not fit is refused and disposed; a late one (slot disposed) too', { timeout: 5000 }, async () => {
  const a = new FakeEngine('ort-cpu', 1);
  const misfit = new FakeEngine('tensorrt', 9);
  const { slot, changes } = slotOn(a, {
    checkFits: async (e) => {
      if (e === misfit) throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, 'does not fit this model: test');
    },
  });
  await assert.rejects(slot.adopt(misfit, 'test: misfit'), { code: ErrorCodes.ENGINE_UNAVAILABLE, message: /does not fit/ });
  assert.equal(misfit.disposed, true);
  assert.equal(slot.current, a);
  assert.deepEqual(changes, []);
  assert.equal(await answer(slot.run(INPUT, DIMS)), 1);
  await slot.dispose();
  const late = new FakeEngine('tensorrt', 2);
  await assert.rejects(slot.adopt(late, 'test: late'), { code: ErrorCodes.ENGINE_DISPOSED });
  assert.equal(late.disposed, true);
});

test('a failed engine is replaced at most once per interval, then as the backoff allows', { timeout: 5000 }, async () => {
  let clock = 0;
  const reloads: number[] = [];
  /** What each reload does: an engine that fails too, or a load failure. */
  const plan: ('dead' | 'throw' | 'ok')[] = ['dead', 'throw', 'throw', 'ok'];
  const a = new FakeEngine('ort-cpu', 1);
  const { slot, changes } = slotOn(a, {
    now: () => clock,
    recoveryBackoff: { baseMs: 1000, maxMs: 4000 },
    reload: async () => {
      reloads.push(clock);
      const step = plan.shift();
      if (step === 'throw') throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, 'test: cannot load');
      const e = new FakeEngine('ort-cpu', 10 + reloads.length);
      if (step === 'dead') e.failure = 'test: dies at once';
      return e;
    },
  });
  const failedRun = () => assert.rejects(slot.run(INPUT, DIMS), { code: ErrorCodes.ENGINE_RUN });

  a.failure = 'test: worker died';
  await Promise.all([failedRun(), failedRun(), failedRun()]);
  await slot.recovery;
  assert.deepEqual(reloads, [0], 'three failed runs, one replacement');
  assert.equal(changes.length, 1);
  assert.match(changes[0][1], /^replaces the ort-cpu engine that failed: test: worker died$/);
  assert.equal(a.disposed, true, 'the failed engine is disposed once replaced');

  // The replacement dies at once: no new attempt before the interval is over.
  clock = 999;
  await failedRun();
  await slot.recovery;
  assert.deepEqual(reloads, [0]);
  clock = 1000;
  await failedRun();
  await slot.recovery;
  assert.deepEqual(reloads, [0, 1000], 'one more attempt once the interval is over');

  // That attempt failed to load: the next comes one interval after it, and after a second failure in a
  // row the interval doubles (backoffDelay by consecutive failures).
  clock = 1999;
  await failedRun();
  await slot.recovery;
  assert.deepEqual(reloads, [0, 1000]);
  clock = 2000;
  await failedRun();
  await slot.recovery;
  assert.deepEqual(reloads, [0, 1000, 2000]);
  clock = 3999;
  await failedRun();
  await slot.recovery;
  assert.deepEqual(reloads, [0, 1000, 2000]);
  clock = 4000;
  await failedRun();
  await slot.recovery;
  assert.deepEqual(reloads, [0, 1000, 2000, 4000]);
  assert.equal(changes.length, 2, 'the last attempt replaced the engine');
  assert.equal(await answer(slot.run(INPUT, DIMS)), 14, 'and the fresh engine serves');
  await slot.dispose();
});

test('the default spacing is a fixed 5 s, and a failing engine that is no longer current starts nothing', { timeout: 5000 }, async () => {
  let clock = 0;
  const reloads: number[] = [];
  const a = new FakeEngine('ort-cpu', 1);
  const { slot } = slotOn(a, {
    now: () => clock,
    reload: async () => {
      reloads.push(clock);
      throw new InspectdError(ErrorCodes.ENGINE_UNAVAILABLE, 'test: cannot load');
    },
  });
  a.failure = 'test: worker died';
  for (const t of [0, 4999, 5000, 9999, 10_000, 14_999, 15_000]) {
    clock = t;
    await assert.rejects(slot.run(INPUT, DIMS), { code: ErrorCodes.ENGINE_RUN });
    await slot.recovery;
  }
  assert.deepEqual(reloads, [0, 5000, 10_000, 15_000]);

  // A run pinned to an engine that was swapped out and then fails does not replace the new engine.
  const b = new FakeEngine('ort-cpu', 2);
  b.hold = true;
  await slot.adopt(b, 'test: B');
  const pinned = slot.run(INPUT, DIMS);
  await until(() => b.running === 1, 'B is running');
  const c = new FakeEngine('ort-cpu', 3);
  await slot.adopt(c, 'test: C');
  clock = 100_000; // long past any spacing: only B not being current keeps it from being replaced
  b.failure = 'test: died under its last run';
  b.releaseOne();
  await assert.rejects(pinned, { code: ErrorCodes.ENGINE_RUN });
  await slot.recovery;
  assert.deepEqual(reloads, [0, 5000, 10_000, 15_000]);
  assert.equal(slot.current, c);
  await slot.dispose();
});

test('dispose waits for a pending replacement, whose engine then comes too late and is disposed', { timeout: 5000 }, async () => {
  let loaded: FakeEngine | undefined;
  let finishLoad: (() => void) | undefined;
  const a = new FakeEngine('ort-cpu', 1);
  const { slot, changes } = slotOn(a, {
    reload: async () => {
      await new Promise<void>((resolve) => (finishLoad = resolve));
      loaded = new FakeEngine('ort-cpu', 2);
      return loaded;
    },
  });
  a.failure = 'test: worker died';
  await assert.rejects(slot.run(INPUT, DIMS), { code: ErrorCodes.ENGINE_RUN });
  await until(() => finishLoad !== undefined, 'the replacement is loading');
  let disposed = false;
  const disposing = slot.dispose().then(() => (disposed = true));
  await tick();
  assert.equal(disposed, false, 'dispose waits for the replacement');
  finishLoad?.();
  await disposing;
  assert.equal(loaded?.disposed, true, 'the late engine is disposed');
  assert.equal(a.disposed, true);
  assert.deepEqual(changes, []);
});
