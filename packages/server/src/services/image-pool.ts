import { AppError } from '@nltrade/core';

export interface DecodePoolOptions {
  /** Jobs run at once (already resolved: no 0 = one per CPU here). */
  readonly threads: number;
  /** Jobs that may wait for a free slot; one more is refused. */
  readonly queue: number;
  /**
   * Pixels decoded at once, over all running jobs: decoding takes memory in proportion to
   * the pixels (a WebP about 8.5 bytes each), so this, not the job count, bounds it. A job
   * bigger than the budget still runs, alone. Unset: no budget.
   */
  readonly pixelBudget?: number;
}

export interface DecodeStats {
  running: number;
  queued: number;
  threads: number;
}

interface Waiter {
  readonly weight: number;
  readonly start: () => void;
}

/** Before any job has finished: roughly a 12-megapixel photo on one core. */
const INITIAL_ESTIMATE_MS = 1500;
/** Weight of the newest job in the running average of job times. */
const EWMA_WEIGHT = 0.2;
const MAX_RETRY_AFTER_SECONDS = 60;

/**
 * The bound on image work in this process: at most `threads` jobs at once and `queue` waiting;
 * beyond that a job is refused at once with 503 and a Retry-After, so a flood costs the
 * server a short refusal each, not memory and CPU time.
 *
 * A semaphore rather than worker threads: sharp already runs off the event loop (libuv's
 * pool), and what decides memory is how many images are decoded at once, not where. A
 * worker-thread pool measured the same peak and kept 65–110 MB more resident (an isolate
 * and a sharp per thread) — see README, "Receipt photo floods".
 */
export class DecodePool {
  readonly threads: number;
  readonly queueLimit: number;
  readonly pixelBudget: number;
  #running = 0;
  #runningPixels = 0;
  readonly #waiting: Waiter[] = [];
  #averageMs = INITIAL_ESTIMATE_MS;

  constructor(options: DecodePoolOptions) {
    this.threads = Math.max(1, Math.floor(options.threads));
    this.queueLimit = Math.max(0, Math.floor(options.queue));
    this.pixelBudget = options.pixelBudget ?? Number.POSITIVE_INFINITY;
  }

  /** Whether a job of `pixels` may start now. */
  #fits(pixels: number): boolean {
    return this.#running < this.threads && (this.#running === 0 || this.#runningPixels + pixels <= this.pixelBudget);
  }

  stats(): DecodeStats {
    return { running: this.#running, queued: this.#waiting.length, threads: this.threads };
  }

  /** Whether a job offered now would be refused: lets a caller refuse before reading an upload. */
  get saturated(): boolean {
    return !this.#fits(0) && this.#waiting.length >= this.queueLimit;
  }

  /**
   * Seconds until the work already accepted is likely done, from the recent job times: a
   * client retrying after that finds room, one retrying sooner most likely does not.
   */
  retryAfterSeconds(): number {
    const backlog = this.#running + this.#waiting.length;
    const seconds = Math.ceil(((backlog / this.threads) * this.#averageMs) / 1000);
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, seconds));
  }

  /** The refusal a caller gives when the pool is saturated, with the Retry-After it should send. */
  busy(): AppError {
    const retryAfterSeconds = this.retryAfterSeconds();
    return new AppError('UNAVAILABLE', `Too many receipt photos are being processed; try again in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
  }

  /**
   * Runs `job` when a slot is free. Refused (UNAVAILABLE) when the queue is full; a job
   * still waiting when `signal` aborts (its client went away) leaves the queue unrun.
   */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal, pixels = 0): Promise<T> {
    if (signal?.aborted) throw abandoned();
    // First come, first served: a job does not overtake those already waiting, even a
    // small one that would fit, so a big photo is never starved by a stream of small ones.
    if (this.#waiting.length === 0 && this.#fits(pixels)) {
      this.#admit(pixels);
    } else {
      if (this.#waiting.length >= this.queueLimit) throw this.busy();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.#waiting.indexOf(waiter);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(abandoned());
          this.#drain();
        };
        const waiter: Waiter = {
          weight: pixels,
          start: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        this.#waiting.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      // Admitted by #drain: #running and #runningPixels already count this one.
    }
    const started = performance.now();
    try {
      return await job();
    } finally {
      this.#averageMs += EWMA_WEIGHT * (performance.now() - started - this.#averageMs);
      this.#running--;
      this.#runningPixels -= pixels;
      this.#drain();
    }
  }

  #admit(pixels: number): void {
    this.#running++;
    this.#runningPixels += pixels;
  }

  /** Starts waiting jobs, in order, while they fit. */
  #drain(): void {
    for (let next = this.#waiting[0]; next && this.#fits(next.weight); next = this.#waiting[0]) {
      this.#waiting.shift();
      this.#admit(next.weight);
      next.start();
    }
  }
}

/** What a job whose client went away ends with: nobody reads it, but it must not look like a server fault. */
const abandoned = (): AppError => new AppError('UNAVAILABLE', 'The upload was abandoned before its photo was processed');
