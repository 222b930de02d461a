/**
 * Work that is not a camera's (HTTP inference API requests) waiting for the engine: a bounded FIFO the
 * pipeline takes from only when no camera frame is waiting and nothing is in flight, so cameras keep their
 * priority and a camera frame waits behind at most one such run. A task that waits longer than its maxWaitMs
 * is refused (API_BUSY, its caller answers 503 with Retry-After); so is one that finds the queue full.
 */
import type { FrameDetector } from '../contracts/detector.js';
import { ErrorCodes, InspectdError } from '../errors.js';

interface Task {
  run: (detector: FrameDetector) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export class SideQueue {
  private readonly tasks: Task[] = [];
  private closedWhy: string | null = null;
  /** Told when a task arrives (the pipeline pumps). */
  onTask: (() => void) | null = null;

  constructor(private readonly opts: { maxQueue: () => number }) {}

  get size(): number {
    return this.tasks.length;
  }

  /**
   * Runs `run` on the pipeline's current detector when the engine is free of camera frames; rejects with
   * API_BUSY when the queue is full or the task waited maxWaitMs, API_NOT_READY once closed.
   */
  submit<T>(run: (detector: FrameDetector) => Promise<T>, maxWaitMs: number): Promise<T> {
    if (this.closedWhy !== null) return Promise.reject(new InspectdError(ErrorCodes.API_NOT_READY, this.closedWhy));
    const max = this.opts.maxQueue();
    if (this.tasks.length >= max) {
      return Promise.reject(new InspectdError(ErrorCodes.API_BUSY, `the inference queue is full (${max} requests waiting, http.api.maxQueue); retry later`));
    }
    return new Promise<T>((resolve, reject) => {
      const task: Task = {
        run,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: setTimeout(() => {
          const i = this.tasks.indexOf(task);
          if (i < 0) return;
          this.tasks.splice(i, 1);
          reject(new InspectdError(ErrorCodes.API_BUSY, `waited ${maxWaitMs} ms (http.maxQueueMs) for the engine, which the cameras keep busy; retry later`));
        }, maxWaitMs),
      };
      task.timer.unref?.();
      this.tasks.push(task);
      this.onTask?.();
    });
  }

  /** The oldest waiting task as a run on `detector` that settles its caller and never rejects; null when none waits. */
  take(): ((detector: FrameDetector) => Promise<void>) | null {
    const task = this.tasks.shift();
    if (!task) return null;
    clearTimeout(task.timer);
    return (detector) => task.run(detector).then(task.resolve, task.reject);
  }

  /** Refuses every waiting and later task (the pipeline drains or stops). */
  close(why: string): void {
    this.closedWhy = why;
    for (const task of this.tasks.splice(0)) {
      clearTimeout(task.timer);
      task.reject(new InspectdError(ErrorCodes.API_NOT_READY, why));
    }
  }
}
