import { AppError, cleanText, LIMITS, maskCard, parseCard, type TraderCardView } from '@nltrade/core';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { MasterKey } from '../crypto/master-key.ts';
import type { Database } from '../storage/schema.ts';

const isId = (v: unknown): v is string => typeof v === 'string' && /^[0-9]{1,18}$/.test(v);
/** Binds each ciphertext to its trader: a row copied to another trader does not decrypt. */
const contextOf = (traderId: string) => `trader-card:${traderId}`;

/**
 * A trader's saved cards, so that giving a payer the card is a pick, not sixteen digits typed
 * under a deadline. Numbers are kept encrypted under the master key and shown only masked;
 * the whole number leaves this service only into an invoice the trader holds.
 */
export class TraderCardService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #masterKey: MasterKey;

  constructor(db: Kysely<Database>, clock: Clock, masterKey: MasterKey) {
    this.#db = db;
    this.#clock = clock;
    this.#masterKey = masterKey;
  }

  async list(traderId: string): Promise<TraderCardView[]> {
    const rows = await this.#db
      .selectFrom('trader_cards')
      .select(['id', 'masked', 'label', 'created_at'])
      .where('trader_id', '=', Number(traderId))
      .where('deleted_at', 'is', null)
      .orderBy('id', 'asc')
      .execute();
    return rows.map((r) => ({
      id: String(r.id),
      masked: r.masked,
      label: r.label,
      created_at: new Date(Number(r.created_at)).toISOString(),
    }));
  }

  /** Saves a card (checked as an invoice's card is); the same number twice is one card. */
  async add(traderId: string, card: unknown, label?: unknown): Promise<TraderCardView> {
    const digits = parseCard(card);
    const clean =
      label === undefined || label === null || label === '' ? null : cleanText(label, { field: 'label', max: LIMITS.cardLabelChars });
    const saved = await this.#rows(traderId);
    for (const row of saved) {
      if (this.#masterKey.decrypt(row.card_enc, contextOf(traderId)) === digits) {
        throw new AppError('VALIDATION_FAILED', `This card is saved already (${row.masked})`, { param: 'card' });
      }
    }
    if (saved.length >= LIMITS.savedCardsPerTrader) {
      throw new AppError('VALIDATION_FAILED', `At most ${LIMITS.savedCardsPerTrader} cards can be saved; remove one first`, {
        param: 'card',
      });
    }
    const now = this.#clock.now();
    const row = await this.#db
      .insertInto('trader_cards')
      .values({
        trader_id: Number(traderId),
        card_enc: this.#masterKey.encrypt(digits, contextOf(traderId)),
        masked: maskCard(digits),
        label: clean,
        created_at: now,
        deleted_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: String(row.id), masked: maskCard(digits), label: clean, created_at: new Date(now).toISOString() };
  }

  async remove(traderId: string, id: unknown): Promise<void> {
    const result = await this.#db
      .updateTable('trader_cards')
      .set({ deleted_at: this.#clock.now() })
      .where('id', '=', isId(id) ? Number(id) : -1)
      .where('trader_id', '=', Number(traderId))
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new AppError('NOT_FOUND', 'No such saved card');
  }

  /** The whole number of one of the trader's own cards; another trader's card looks missing. */
  async number(traderId: string, id: unknown): Promise<string> {
    const row = isId(id)
      ? await this.#db
          .selectFrom('trader_cards')
          .select('card_enc')
          .where('id', '=', Number(id))
          .where('trader_id', '=', Number(traderId))
          .where('deleted_at', 'is', null)
          .executeTakeFirst()
      : undefined;
    if (!row) throw new AppError('NOT_FOUND', 'No such saved card');
    return this.#masterKey.decrypt(row.card_enc, contextOf(traderId));
  }

  #rows(traderId: string) {
    return this.#db
      .selectFrom('trader_cards')
      .select(['card_enc', 'masked'])
      .where('trader_id', '=', Number(traderId))
      .where('deleted_at', 'is', null)
      .execute();
  }
}
