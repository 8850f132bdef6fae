import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACTIONS, EXPIRING_STATUSES, STATUSES } from '@nltrade/core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './log.ts';
import type { System } from './system.ts';

type RsaStats = ReturnType<System['rsa']['stats']>;

/** Open realtime connections by what they did: joined a payer room, watched, or neither yet. */
export interface SocketCounts {
  payer: number;
  watcher: number;
  other: number;
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Labels hold route patterns (`/v1/checkout/:uid`), never a URL: no UID or token becomes a series. */
export const UNMATCHED_ROUTE = 'unmatched';
const KNOWN_ACTIONS = new Set<string>([...ACTIONS, 'create']);
const KNOWN_STATUSES = new Set<string>(STATUSES);

/**
 * The Prometheus metrics of one System, in a registry of its own (several servers in one
 * process, as in tests, never share series). Counters move as things happen; gauges over the
 * database, the worker pools and the sockets are read when scraped.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #log: Logger;
  readonly #httpRequests: Counter<'method' | 'route' | 'status_code'>;
  readonly #httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly #transitions: Counter<'action' | 'from' | 'to'>;
  #system: System | undefined;
  #sockets: (() => SocketCounts) | undefined;
  #unsubscribe: (() => void) | undefined;
  #processMetrics = false;

  constructor(log: Logger) {
    this.#log = log;
    const registers = [this.registry];
    this.#httpRequests = new Counter({
      name: 'nltrade_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: 'nltrade_http_request_duration_seconds',
      help: 'Time from the request arriving to the answer being sent, by route pattern',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#transitions = new Counter({
      name: 'nltrade_invoice_transitions_total',
      help: 'Invoice changes committed by this process, by action and statuses',
      labelNames: ['action', 'from', 'to'],
      registers,
    });
    this.#gauges(registers);
  }

  /** Connects the scrape-time gauges and the transition counter to the system they describe. */
  attach(system: System): void {
    this.#system = system;
    this.#poolGauges(system);
    // Only this process's own changes: another process counts its own, and a sum over all
    // processes must not count a change twice.
    this.#unsubscribe = system.bus.subscribe((event, meta) => {
      if (meta.remote) return;
      const action = KNOWN_ACTIONS.has(event.action) ? event.action : 'other';
      const from = event.from === null ? 'none' : KNOWN_STATUSES.has(event.from) ? event.from : 'other';
      const to = KNOWN_STATUSES.has(event.to) ? event.to : 'other';
      this.#transitions.inc({ action, from, to });
    });
  }

  /** The realtime server's socket counts, read at scrape time. */
  observeSockets(counts: () => SocketCounts): void {
    this.#sockets = counts;
  }

  /** Node's own metrics (memory, CPU, event loop lag, GC): only in a serving process. */
  collectProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    const labels = {
      method: HTTP_METHODS.has(method) ? method : 'other',
      route: route ?? UNMATCHED_ROUTE,
      status_code: String(statusCode),
    };
    this.#httpRequests.inc(labels);
    this.#httpDuration.observe(labels, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. A gauge whose source fails is left out of this scrape (and logged). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#sockets = undefined;
  }

  #gauges(registers: Registry[]): void {
    const self = this;
    const failed = (what: string, err: unknown) => this.#log.warn({ err }, `metrics: reading ${what} failed`);

    new Gauge({
      name: 'nltrade_invoices',
      // Sandbox invoices are left out: a test invoice left open must not trip a real queue alert.
      help: 'Invoices in the database (sandbox ones left out), by status',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        const system = self.#system;
        if (!system) return;
        try {
          const rows = await system.storage.db
            .selectFrom('invoices')
            .select((eb) => ['status', eb.fn.countAll<number | string | bigint>().as('n')])
            .where('sandbox', '=', 0)
            .groupBy('status')
            .execute();
          for (const status of STATUSES) this.set({ status }, 0);
          for (const row of rows) if (KNOWN_STATUSES.has(row.status)) this.set({ status: row.status }, Number(row.n));
        } catch (err) {
          failed('invoices by status', err);
        }
      },
    });

    new Gauge({
      name: 'nltrade_webhook_deliveries_pending',
      help: 'Webhook deliveries not yet delivered nor finally failed: all of them, and those due now (due = waiting for a sender)',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const system = self.#system;
        if (!system) return;
        try {
          const { pending, due } = await system.webhooks.queueStats();
          this.set({ state: 'pending' }, pending);
          this.set({ state: 'due' }, due);
        } catch (err) {
          failed('webhook deliveries', err);
        }
      },
    });

    new Gauge({
      name: 'nltrade_sweeper_lag_seconds',
      help: 'How long the most overdue invoice has been waiting for the sweeper to expire it (0 = none overdue)',
      registers,
      async collect() {
        this.reset();
        const system = self.#system;
        if (!system) return;
        try {
          const now = system.clock.now();
          const row = await system.storage.db
            .selectFrom('invoices')
            .select((eb) => eb.fn.min('deadline_at').as('oldest'))
            .where('deadline_at', 'is not', null)
            .where('deadline_at', '<=', now)
            .where('status', 'in', [...EXPIRING_STATUSES])
            .executeTakeFirst();
          const oldest = row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
          this.set(oldest === null ? 0 : Math.max(0, (now - oldest) / 1000));
        } catch (err) {
          // Unknown, not zero: an unlabelled gauge cannot simply be left out.
          this.set(Number.NaN);
          failed('sweeper lag', err);
        }
      },
    });

    new Gauge({
      name: 'nltrade_event_log_lag_seconds',
      help: "Age of the oldest change in the event log this process has not read yet (other processes' changes reach its sockets after it)",
      registers,
      async collect() {
        this.reset();
        const system = self.#system;
        const position = system?.eventLog.readPosition;
        if (!system || position === undefined) return;
        try {
          const row = await system.storage.db
            .selectFrom('invoice_history')
            .select('at')
            .where('id', '>', position)
            .orderBy('id', 'asc')
            .limit(1)
            .executeTakeFirst();
          this.set(row ? Math.max(0, (system.clock.now() - Number(row.at)) / 1000) : 0);
        } catch (err) {
          this.set(Number.NaN);
          failed('event log lag', err);
        }
      },
    });

    new Gauge({
      name: 'nltrade_realtime_sockets',
      help: 'Open realtime connections: payer (joined an invoice), watcher (invoice:watch), other (neither yet)',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        const counts = self.#sockets?.();
        if (!counts) return;
        this.set({ kind: 'payer' }, counts.payer);
        this.set({ kind: 'watcher' }, counts.watcher);
        this.set({ kind: 'other' }, counts.other);
      },
    });
  }

  /** The worker pools: the RSA decryption queue and the receipt-photo decoders. */
  #poolGauges(system: System): void {
    const registers = [this.registry];
    const rsaGauge = (name: string, help: string, value: (s: RsaStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(system.rsa.stats()));
        },
      });
    rsaGauge('nltrade_rsa_threads', 'RSA worker threads', (s) => s.threads);
    rsaGauge('nltrade_rsa_busy', 'RSA worker threads working on a job', (s) => s.busy);
    rsaGauge('nltrade_rsa_queued', 'RSA operations waiting for a worker', (s) => s.queued);
    rsaGauge('nltrade_rsa_merchants_queued', 'Merchants with operations waiting for an RSA worker', (s) => s.merchantsQueued);
    rsaGauge('nltrade_rsa_utilisation', 'Share of the RSA worker threads busy (0-1)', (s) => (s.threads > 0 ? s.busy / s.threads : 0));
    new Counter({
      name: 'nltrade_rsa_jobs_completed_total',
      help: 'RSA operations finished by the worker pool',
      registers,
      collect() {
        this.reset();
        this.inc(system.rsa.stats().completed);
      },
    });
    new Gauge({
      name: 'nltrade_photo_decode',
      help: 'Receipt photos being decoded (running), waiting for a decoder (queued), and decoder threads',
      labelNames: ['state'],
      registers,
      collect() {
        const stats = system.photos.decodeStats();
        this.set({ state: 'running' }, stats.running);
        this.set({ state: 'queued' }, stats.queued);
        this.set({ state: 'threads' }, stats.threads);
      },
    });
  }
}

/** `/metrics` alone on its own port (`METRICS_PORT`), so the main port need not expose it. */
export async function serveMetrics(
  metrics: Metrics,
  host: string,
  port: number,
  log: Logger,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      return;
    }
    metrics.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics: scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics unavailable\n');
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown === '0.0.0.0' ? '127.0.0.1' : shown}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
