import { isAppError } from '@nltrade/core';
import type { Clock } from '../clock.ts';
import type { InvoiceService } from '../services/invoices.ts';

export interface SweeperOptions {
  intervalMs?: number;
  /** Invoices expired per query; a run repeats batches until nothing is due. */
  batchSize?: number;
  onError?: (err: unknown) => void;
}

export interface SweepResult {
  expired: number;
  /** Due invoices another writer changed first (another process's sweeper, a trader's late confirm). */
  skipped: number;
}

/**
 * Expires invoices whose deadline has passed. Every expiry is an ordinary `expire` action
 * through InvoiceService.act, so it is a compare-and-set like any other change: several
 * processes may sweep at once and each invoice still moves exactly once (the losers find a
 * new status the table refuses to expire, and skip it). Deadlines live in the database, so
 * the first run at start catches up on everything that fell due while no server was up.
 */
export class Sweeper {
  readonly #invoices: InvoiceService;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #batchSize: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #tail: Promise<void> = Promise.resolve();
  #started = false;
  /** Bumped by start/stop so a tick from an earlier start never reschedules itself. */
  #generation = 0;
  #closing = false;

  constructor(invoices: InvoiceService, clock: Clock, options: SweeperOptions = {}) {
    this.#invoices = invoices;
    this.#clock = clock;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#batchSize = options.batchSize ?? 100;
    this.#onError = options.onError ?? (() => {});
  }

  /** Sweeps once now (the catch-up), then every interval; runs never overlap. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#closing = false;
    this.#tick(++this.#generation);
  }

  async stop(): Promise<void> {
    this.#started = false;
    this.#closing = true;
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#tail;
  }

  /**
   * One full sweep; tests call this after moving a ManualClock. Runs are queued, never
   * concurrent, and a call made during a run gets a fresh run that reads the clock anew.
   */
  runOnce(): Promise<SweepResult> {
    const run = this.#tail.then(() => this.#sweep());
    this.#tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  #tick(generation: number): void {
    this.runOnce()
      .catch((err: unknown) => this.#onError(err))
      .finally(() => {
        if (generation !== this.#generation) return;
        this.#timer = setTimeout(() => this.#tick(generation), this.#intervalMs);
        this.#timer.unref();
      });
  }

  async #sweep(): Promise<SweepResult> {
    const result: SweepResult = { expired: 0, skipped: 0 };
    for (;;) {
      const due = await this.#invoices.due(this.#clock.now(), this.#batchSize);
      let progressed = 0;
      for (const invoice of due) {
        try {
          await this.#invoices.act(invoice.uid, 'expire', { type: 'system', id: null });
          result.expired++;
          progressed++;
        } catch (err) {
          if (!isAppError(err)) {
            this.#onError(err);
            continue;
          }
          // Refused: another writer moved it first (another process's sweep, a late confirm),
          // so it is no longer due. Only a lost compare-and-set leaves it due for the next query.
          result.skipped++;
          if (err.code !== 'CONCURRENT_UPDATE') progressed++;
        }
      }
      // A short batch means we are caught up; a batch where nothing moved would only repeat.
      if (due.length < this.#batchSize || progressed === 0 || this.#closing) return result;
    }
  }
}
