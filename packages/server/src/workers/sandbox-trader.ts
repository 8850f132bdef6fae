import {
  type Action,
  type ActionInput,
  type Actor,
  AppError,
  type ErrorCode,
  formatAmount,
  type InvoiceEvent,
  isAppError,
  OPEN_STATUS,
  parseAmount,
  type Status,
  statusesFrom,
} from '@nltrade/core';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { EventBus } from '../events.ts';
import type { Invoice, InvoiceService } from '../services/invoices.ts';
import type { MerchantService } from '../services/merchants.ts';
import type { Database } from '../storage/schema.ts';
import type { System } from '../system.ts';

/**
 * The card the simulated trader gives: the well-known test number (Luhn-valid, issued to
 * nobody), so a sandbox payer can never send real money to a real card.
 */
export const SANDBOX_CARD = '4242424242424242';

/**
 * What the last two digits of a sandbox invoice's amount make the simulated trader do (the
 * table in README.md, "Sandbox"). Any other amount: accepted, card given, confirmed after
 * the payer's "paid".
 */
export const SANDBOX_MAGIC = {
  /** After "paid" the trader changes the amount to 1.00 less, then confirms (amounts ≥ 1.01). */
  changeAmount: 1,
  /** After "paid" the trader disputes; the payer's receipt photo wins the dispute. */
  disputeWon: 2,
  /** Nobody accepts: ACCEPT_TIMEOUT rejects the invoice as it would a real one. */
  nobodyAccepts: 3,
  /** After "paid" the trader disputes, and the administrator cancels even with a photo. */
  disputeLost: 4,
} as const;

/** How much less the simulated trader says it received, for the `.01` amounts (minor units). */
const AMOUNT_CHANGE_MINOR = 100;

/**
 * The marker stored as the simulated accounts' token hash. Real hashes are 64 hex digits, so
 * no token can ever hash to it: the accounts exist (invoices name them as `trader_id`, their
 * moves carry their id) but nobody can log in as them.
 */
const ACCOUNT_MARKERS = {
  trader: { hash: 'sandbox:simulated-trader', name: 'Sandbox trader (simulated)' },
  admin: { hash: 'sandbox:simulated-admin', name: 'Sandbox administrator (simulated)' },
} as const;

/**
 * Refusals that mean another writer moved the invoice first (another process's simulated
 * trader, an administrator, a timer): the move is no longer ours to make, nothing is wrong.
 */
const LOST_RACE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONCURRENT_UPDATE',
  'TRANSITION_REFUSED',
  'ALREADY_YOURS',
  'ALREADY_TAKEN',
  'NOT_YOUR_INVOICE',
  'INVALID_AMOUNT',
  'INVOICE_NOT_FOUND',
  'DEADLINE_PASSED',
]);

/** Where the simulated trader moves on an invoice it holds: every trader rule but taking one from the queue. */
const HOLDER_STATUSES: readonly Status[] = statusesFrom((r) => r.actor === 'trader' && r.from !== OPEN_STATUS);
/** Where the simulated administrator moves: deciding a dispute, whoever holds the invoice. */
const DECIDING_STATUSES: readonly Status[] = statusesFrom((r) => r.actor === 'admin' && r.action === 'decide');
/** The statuses in which the simulated trader or administrator has a move of its own. */
const MOVING_STATUSES: readonly Status[] = [OPEN_STATUS, ...HOLDER_STATUSES, ...DECIDING_STATUSES];

export interface SandboxTraderOptions {
  /** How long each simulated move waits after the invoice's last change (SANDBOX_DELAY_MS). */
  delayMs: number;
  /** How often the database is scanned for moves no event announced (ms). */
  scanIntervalMs?: number;
  /** Invoices looked at per scan query; a scan repeats batches until nothing is due. */
  batchSize?: number;
  onError?: (err: unknown) => void;
}

export interface SandboxRunResult {
  moved: number;
  /** Moves another writer made first, or that were not due after all. */
  skipped: number;
}

interface Move {
  readonly action: Action;
  readonly actor: Actor;
  readonly input: ActionInput;
  /** Epoch ms from which the move may be made. */
  readonly dueAt: number;
}

export interface SandboxDeps {
  readonly db: Kysely<Database>;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly invoices: InvoiceService;
  readonly merchants: MerchantService;
}

/** The amount's last two digits as the merchant chose them (before the simulated trader changed it). */
function magicOf(invoice: Invoice): number {
  const original = invoice.traderChangePrice === null ? invoice.sendMinor : parseAmount(invoice.traderChangePrice);
  return original % 100;
}

/**
 * A built-in trader for sandbox invoices only. Every move is an ordinary action through
 * InvoiceService.act and the transition table, as a dedicated trader account (and, for
 * disputes, a dedicated administrator account) whose tokens cannot be used: so histories,
 * views and webhooks look exactly like a real trader's, and nothing but a sandbox invoice is
 * ever touched (real traders, for their part, never see sandbox invoices).
 *
 * What it waits for lives in the database: a move is due `delayMs` after the invoice's last
 * change (`updated_at`), so after a restart the first scan finds whatever is pending. Events
 * from the bus (this process's changes and, through the event log, other processes') start a
 * timer for the next move at once; a periodic scan catches anything else. Several processes
 * may run it: each move is a compare-and-set, the losers' refusals are swallowed.
 */
export class SandboxTrader {
  readonly #deps: SandboxDeps;
  readonly #delayMs: number;
  readonly #scanIntervalMs: number;
  readonly #batchSize: number;
  readonly #onError: (err: unknown) => void;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Whether a merchant is a sandbox one; fixed at creation, so it is asked once per merchant. */
  readonly #sandboxMerchants = new Map<string, Promise<boolean>>();
  #accounts: Promise<{ trader: string; admin: string }> | undefined;
  #known: { trader: string; admin: string } | undefined;
  #unsubscribe: (() => void) | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  /** Moves in flight from timers, awaited by stop(). */
  readonly #inflight = new Set<Promise<void>>();
  #running = false;
  #closing = false;
  #generation = 0;

  constructor(deps: SandboxDeps, options: SandboxTraderOptions) {
    this.#deps = deps;
    this.#delayMs = options.delayMs;
    this.#scanIntervalMs = options.scanIntervalMs ?? Math.min(Math.max(options.delayMs, 250), 5000);
    this.#batchSize = options.batchSize ?? 100;
    this.#onError = options.onError ?? (() => {});
  }

  /** The simulated trader working on a system's database, bus and services. */
  static forSystem(system: System, options: SandboxTraderOptions): SandboxTrader {
    const { storage, bus, clock, invoices, merchants } = system;
    return new SandboxTrader({ db: storage.db, bus, clock, invoices, merchants }, options);
  }

  /** The simulated accounts' ids (made on first use, once, whichever process gets there first). */
  accounts(): Promise<{ trader: string; admin: string }> {
    this.#accounts ??= (async () => ({
      trader: await this.#ensureAccount('trader'),
      admin: await this.#ensureAccount('admin'),
    }))().then(
      (accounts) => {
        this.#known = accounts;
        return accounts;
      },
      (err: unknown) => {
        // A failed attempt (the database briefly away) must not be remembered.
        this.#accounts = undefined;
        throw err;
      },
    );
    return this.#accounts;
  }

  /** Listens to the bus and scans now (the catch-up after a restart), then every scan interval. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#closing = false;
    const generation = ++this.#generation;
    this.#unsubscribe = this.#deps.bus.subscribe((event) => this.#heard(event));
    this.#tick(generation);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#closing = true;
    this.#generation++;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#scanTimer) clearTimeout(this.#scanTimer);
    this.#scanTimer = undefined;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#tail;
    await Promise.all([...this.#inflight]);
  }

  /** One full scan; tests call it to drive the trader by hand. Scans never overlap. */
  runOnce(): Promise<SandboxRunResult> {
    const run = this.#tail.then(() => this.#scan());
    this.#tail = run.catch(() => {});
    return run;
  }

  #tick(generation: number): void {
    this.runOnce()
      .catch((err: unknown) => this.#onError(err))
      .finally(() => {
        if (generation !== this.#generation) return;
        this.#scanTimer = setTimeout(() => this.#tick(generation), this.#scanIntervalMs);
        this.#scanTimer.unref();
      });
  }

  #heard(event: InvoiceEvent): void {
    if (!MOVING_STATUSES.includes(event.to)) return;
    this.#isSandboxMerchant(event.merchantId).then(
      (sandbox) => {
        if (sandbox && this.#running) this.#schedule(event.uid, event.at + this.#delayMs);
      },
      (err: unknown) => this.#onError(err),
    );
  }

  #isSandboxMerchant(merchantId: string): Promise<boolean> {
    let known = this.#sandboxMerchants.get(merchantId);
    if (!known) {
      known = this.#deps.merchants.get(merchantId).then((m) => m?.sandbox === true);
      known.catch(() => this.#sandboxMerchants.delete(merchantId));
      this.#sandboxMerchants.set(merchantId, known);
    }
    return known;
  }

  #schedule(uid: string, at: number): void {
    const previous = this.#timers.get(uid);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(
      () => {
        this.#timers.delete(uid);
        if (!this.#running) return;
        const attempt = this.#attempt(uid)
          .then(() => {})
          .catch((err: unknown) => this.#onError(err))
          .finally(() => this.#inflight.delete(attempt));
        this.#inflight.add(attempt);
      },
      Math.max(0, at - this.#deps.clock.now()),
    );
    timer.unref();
    this.#timers.set(uid, timer);
  }

  async #scan(): Promise<SandboxRunResult> {
    const result: SandboxRunResult = { moved: 0, skipped: 0 };
    // Looked up, not made: a deployment that never has a sandbox invoice never gets the accounts.
    const trader = this.#known?.trader ?? (await this.#findAccount('trader'));
    let afterId = 0;
    for (;;) {
      const cutoff = this.#deps.clock.now() - this.#delayMs;
      const rows = await this.#deps.db
        .selectFrom('invoices')
        .select(['id', 'uid'])
        .where('sandbox', '=', 1)
        .where('id', '>', afterId)
        .where('updated_at', '<=', cutoff)
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', OPEN_STATUS), eb(sql<number>`send_minor % 100`, '<>', SANDBOX_MAGIC.nobodyAccepts)]),
            ...(trader === undefined ? [] : [eb.and([eb('status', 'in', HOLDER_STATUSES), eb('trader_id', '=', Number(trader))])]),
            eb('status', 'in', DECIDING_STATUSES),
          ]),
        )
        .orderBy('id', 'asc')
        .limit(this.#batchSize)
        .execute();
      for (const row of rows) {
        try {
          if ((await this.#attempt(row.uid)) === 'moved') result.moved++;
          else result.skipped++;
        } catch (err) {
          result.skipped++;
          this.#onError(err);
        }
      }
      const last = rows.at(-1);
      if (rows.length < this.#batchSize || !last || this.#closing) return result;
      afterId = Number(last.id);
    }
  }

  /** Makes the invoice's next simulated move if it is due; reschedules it if it is not yet. */
  async #attempt(uid: string): Promise<'moved' | 'skipped'> {
    const invoice = await this.#deps.invoices.findByUid(uid);
    if (!invoice?.sandbox) return 'skipped';
    const move = await this.#nextMove(invoice);
    if (!move) return 'skipped';
    if (move.dueAt > this.#deps.clock.now()) {
      if (this.#running) this.#schedule(uid, move.dueAt);
      return 'skipped';
    }
    try {
      await this.#deps.invoices.act(uid, move.action, move.actor, move.input);
      return 'moved';
    } catch (err) {
      if (isAppError(err) && LOST_RACE.has(err.code)) return 'skipped';
      throw err;
    }
  }

  /** The simulated side's next move for the invoice as it is now, or null when it waits for the payer (or nothing). */
  async #nextMove(invoice: Invoice): Promise<Move | null> {
    const accounts = await this.accounts();
    const trader: Actor = { type: 'trader', id: accounts.trader };
    const dueAt = invoice.updatedAt + this.#delayMs;
    const magic = magicOf(invoice);
    const ours = invoice.traderId === accounts.trader;
    switch (invoice.status) {
      case OPEN_STATUS:
        return magic === SANDBOX_MAGIC.nobodyAccepts ? null : { action: 'accept', actor: trader, input: {}, dueAt };
      case 'wait card':
        return ours ? { action: 'setCard', actor: trader, input: { card: SANDBOX_CARD }, dueAt } : null;
      case 'pay': {
        if (!ours) return null;
        if (magic === SANDBOX_MAGIC.disputeWon || magic === SANDBOX_MAGIC.disputeLost) {
          return { action: 'dispute', actor: trader, input: { reason: 'Sandbox: the simulated trader disputes this amount' }, dueAt };
        }
        if (magic === SANDBOX_MAGIC.changeAmount && invoice.traderChangePrice === null && invoice.sendMinor > AMOUNT_CHANGE_MINOR) {
          return { action: 'changeAmount', actor: trader, input: { amount: formatAmount(invoice.sendMinor - AMOUNT_CHANGE_MINOR) }, dueAt };
        }
        return { action: 'confirm', actor: trader, input: {}, dueAt };
      }
      case 'notApprove': {
        // A real merchant's dispute waits for a person; the sandbox's is decided by the amount,
        // so an integration can see both endings without anyone on duty.
        const won = invoice.approvePhoto !== null && magic !== SANDBOX_MAGIC.disputeLost;
        const reason = won
          ? 'Sandbox: the receipt photo proves the payment'
          : invoice.approvePhoto === null
            ? 'Sandbox: no receipt photo was sent'
            : 'Sandbox: the dispute is decided against the payer (amount ending in .04)';
        return {
          action: 'decide',
          actor: { type: 'admin', id: accounts.admin },
          input: { decision: won ? 'success' : 'canceled', reason },
          dueAt,
        };
      }
      default:
        return null;
    }
  }

  async #findAccount(role: 'trader' | 'admin'): Promise<string | undefined> {
    const row = await this.#deps.db
      .selectFrom('accounts')
      .select('id')
      .where('token_hash', '=', ACCOUNT_MARKERS[role].hash)
      .executeTakeFirst();
    return row ? String(row.id) : undefined;
  }

  async #ensureAccount(role: 'trader' | 'admin'): Promise<string> {
    const marker = ACCOUNT_MARKERS[role];
    const db = this.#deps.db;
    // token_hash is unique: of several processes making it at once, one row is kept.
    await db
      .insertInto('accounts')
      .values({ role, name: marker.name, token_hash: marker.hash, created_at: this.#deps.clock.now() })
      .onConflict((oc) => oc.column('token_hash').doNothing())
      .execute();
    const row = await db.selectFrom('accounts').select(['id', 'role']).where('token_hash', '=', marker.hash).executeTakeFirst();
    if (!row || row.role !== role) throw new AppError('INTERNAL', `The simulated ${role} account is missing`);
    return String(row.id);
  }
}
