import type { InvoiceEvent } from '@nltrade/core';

/** `remote` is true for an event another server process published (see PgEventBridge). */
export interface EventMeta {
  readonly remote: boolean;
}

export type InvoiceListener = (event: InvoiceEvent, meta: EventMeta) => void;

const LOCAL: EventMeta = { remote: false };

/**
 * In-process fan-out of domain events (today: the socket rooms). A listener must not throw
 * into the publisher: a failing listener never undoes a committed change.
 */
export class EventBus {
  readonly #listeners = new Set<InvoiceListener>();
  #onError: (err: unknown) => void = () => {};

  subscribe(listener: InvoiceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onListenerError(handler: (err: unknown) => void): void {
    this.#onError = handler;
  }

  publish(event: InvoiceEvent, meta: EventMeta = LOCAL): void {
    for (const listener of this.#listeners) {
      try {
        listener(event, meta);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}
