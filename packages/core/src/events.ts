import type { Status } from './statuses.ts';
import type { Action, Actor } from './transitions.ts';

/**
 * One event per change of an invoice. The same event feeds the socket rooms, the history
 * log and the webhooks, so they can never disagree about what happened.
 */
export interface InvoiceEvent {
  /**
   * The event's id in the durable event log (the invoice's history row), growing in commit
   * order on the embedded database; other processes read the log by it.
   */
  readonly id: string;
  readonly type: 'invoice.created' | 'invoice.changed';
  readonly invoiceId: string;
  readonly uid: string;
  readonly merchantId: string;
  readonly action: Action | 'create';
  readonly actor: Actor;
  readonly from: Status | null;
  readonly to: Status;
  readonly version: number;
  /** Epoch ms. */
  readonly at: number;
  readonly note: string;
}
