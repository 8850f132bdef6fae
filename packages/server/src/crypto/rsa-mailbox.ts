import type { MessagePort } from 'node:worker_threads';
import type { LegacyRequest } from '../legacy/request.ts';

/**
 * The pool and a worker share a mailbox (a SharedArrayBuffer) of OFFERS entries: the pool
 * offers the next operations there while the worker is busy, and the worker takes the
 * offered entry with the lowest sequence number the moment it is free, without a round trip
 * through the pool's event loop. Two entries keep a worker busy for two operations after the
 * one it runs, however late the event loop gets to its replies: with the RSA threads on
 * every core, a woken event loop often waits a few milliseconds for a CPU. Until the worker
 * has taken an entry, the pool may take the offer back (see RsaPool) to serve another
 * merchant first.
 *
 * Layout: a control block (Int32 [bell, stop]); then per entry an Int32 header
 * [state, unit id, key id, ciphertext length, sequence] and the ciphertext. The pool rings
 * the bell (adds one, notifies) after every offer and on stop; an idle worker waits on it.
 */
export const MAILBOX = {
  OFFERS: 2,
  /** Entry states. */
  EMPTY: 0,
  /** An offer is written and may be taken by the worker or taken back by the pool. */
  OFFERED: 1,
  /** The worker is copying the offer out; the pool must not touch the entry. */
  TAKING: 2,
  /** Int32 indexes in the control block. */
  BELL: 0,
  STOP: 1,
  CONTROL_BYTES: 16,
  /** Int32 indexes in an entry's header. */
  STATE: 0,
  UNIT: 1,
  KEY: 2,
  LENGTH: 3,
  SEQUENCE: 4,
  ENTRY_HEADER_BYTES: 32,
  /** Room for any ciphertext the legacy API accepts (one block of an 8192-bit key, 1024 bytes). */
  DATA_BYTES: 2048,
} as const;

export const MAILBOX_BYTES = MAILBOX.CONTROL_BYTES + MAILBOX.OFFERS * (MAILBOX.ENTRY_HEADER_BYTES + MAILBOX.DATA_BYTES);

/** Views of one mailbox: the control block and each entry's header and data. */
export interface MailboxViews {
  readonly control: Int32Array;
  readonly entries: readonly { readonly header: Int32Array; readonly data: Uint8Array }[];
}

export function mailboxViews(buffer: SharedArrayBuffer): MailboxViews {
  const entries = [];
  for (let i = 0; i < MAILBOX.OFFERS; i++) {
    const at = MAILBOX.CONTROL_BYTES + i * (MAILBOX.ENTRY_HEADER_BYTES + MAILBOX.DATA_BYTES);
    entries.push({
      header: new Int32Array(buffer, at, MAILBOX.ENTRY_HEADER_BYTES / 4),
      data: new Uint8Array(buffer, at + MAILBOX.ENTRY_HEADER_BYTES, MAILBOX.DATA_BYTES),
    });
  }
  return { control: new Int32Array(buffer, 0, MAILBOX.CONTROL_BYTES / 4), entries };
}

export interface WorkerSetup {
  readonly mailbox: SharedArrayBuffer;
  /** Private keys arrive here (`KeyDelivery`), always before the first offer that needs them. */
  readonly keys: MessagePort;
}

export interface KeyDelivery {
  readonly keyId: number;
  readonly pem: string;
}

/** One RSA operation's outcome: the request the plaintext parses to, or null. */
export type UnitReply = { readonly id: number; readonly request: LegacyRequest | null } | { readonly id: number; readonly error: string };
