import type { Status } from './statuses.ts';
import type { Action, Actor } from './transitions.ts';

/**
 * One event per change of an invoice: the history row written with the change is the event,
 * and the socket rooms of every server process hear it from that row, so what payers are
 * told and what the history says can never disagree.
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
