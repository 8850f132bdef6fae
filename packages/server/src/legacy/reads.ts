import { AppError, isStatus } from '@nltrade/core';
import type { CompiledQuery, InferResult, Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { type LegacyRecord, legacyRecord } from './record.ts';

/** Stands for the UID in the compiled query; replaced by the real one on every run. */
const UID_PARAMETER = '\u0000uid';

/** The invoice's columns the record shows, and its history, one row per history entry. */
const recordQuery = (db: Kysely<Database>) =>
  db
    .selectFrom('invoices')
    .innerJoin('invoice_history as h', 'h.invoice_id', 'invoices.id')
    .select([
      'invoices.id',
      'invoices.uid',
      'invoices.merchant_id',
      'invoices.trader_id',
      'invoices.title',
      'invoices.send_minor',
      'invoices.recive_minor',
      'invoices.rate',
      'invoices.card',
      'invoices.status',
      'invoices.ip',
      'invoices.payment_timeout',
      'invoices.created_at',
      'invoices.accepted_at',
      'invoices.paid_at',
      'invoices.approve_photo',
      'invoices.trader_change_price',
      'h.at as h_at',
      'h.note as h_note',
    ])
    .where('invoices.uid', '=', UID_PARAMETER)
    .orderBy('h.version', 'asc');

type RecordRow = InferResult<ReturnType<typeof recordQuery>>[number];

/**
 * The legacy `get`, which payers' pages poll, as one query compiled once. Building and
 * compiling a Kysely query costs the event loop several times what running the indexed
 * read costs; the compiled text and its one parameter are reused (the SQLite statement
 * cache in storage/db.ts keys on that text, so the statement is prepared once too).
 * It reads what InvoiceService.getWithHistory reads, minus columns the record never shows.
 */
export class LegacyReads {
  readonly #db: Kysely<Database>;
  readonly #record: CompiledQuery<RecordRow>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
    this.#record = recordQuery(db).compile();
    if (this.#record.parameters.length !== 1 || this.#record.parameters[0] !== UID_PARAMETER) {
      throw new Error('The legacy record query must take the UID as its only parameter');
    }
  }

  /** The record of `uid` if it is this merchant's; another merchant's is "not found" too. */
  async record(uid: string, merchantId: string): Promise<LegacyRecord> {
    const { rows } = await this.#db.executeQuery<RecordRow>({ ...this.#record, parameters: [uid] });
    const first = rows[0];
    if (!first || String(first.merchant_id) !== merchantId) throw new AppError('INVOICE_NOT_FOUND');
    if (!isStatus(first.status)) throw new AppError('INTERNAL', `Invoice ${first.id} has an unknown status`);
    const history = new Array<{ at: number; note: string }>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      history[i] = { at: Number(row.h_at), note: row.h_note };
    }
    return legacyRecord(
      {
        id: String(first.id),
        uid: first.uid,
        traderId: first.trader_id === null ? null : String(first.trader_id),
        title: first.title,
        sendMinor: Number(first.send_minor),
        reciveMinor: Number(first.recive_minor),
        rate: first.rate,
        card: first.card,
        status: first.status,
        ip: first.ip,
        paymentTimeout: first.payment_timeout,
        createdAt: Number(first.created_at),
        acceptedAt: first.accepted_at === null ? null : Number(first.accepted_at),
        paidAt: first.paid_at === null ? null : Number(first.paid_at),
        approvePhoto: first.approve_photo,
        traderChangePrice: first.trader_change_price,
      },
      history,
    );
  }
}
