import { type ClientToServerEvents, type ConsoleChange, REALTIME_PATH, type ServerToClientEvents } from '@nltrade/core';
import { io, type Socket } from 'socket.io-client';

/** Which invoice changed (`console:changed`), or null when anything may have: screens refetch what they show. */
export type ChangeHint = ConsoleChange | null;

export type LiveState = 'connecting' | 'live' | 'reconnecting';

/** While the socket is down, screens are told to refetch this often, so nothing waits for it. */
const FALLBACK_POLL_MS = 10_000;

/**
 * The console's one realtime channel. The session cookie goes with the handshake (same
 * origin), so the server knows who listens; `console:listen` joins the principal's rooms and
 * must be sent again after every reconnect, since rooms do not survive one.
 */
export class ConsoleLive {
  readonly #listeners = new Set<(hint: ChangeHint) => void>();
  readonly #stateListeners = new Set<(state: LiveState) => void>();
  #socket: Socket<ServerToClientEvents, ClientToServerEvents> | null = null;
  #state: LiveState = 'connecting';
  #poll: ReturnType<typeof setInterval> | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;

  start(): void {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
      path: REALTIME_PATH,
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      reconnectionDelayMax: 5000,
    });
    this.#socket = socket;
    socket.on('connect', () => {
      socket.emit('console:listen');
      this.#setState('live');
      // Whatever changed while the socket was down reached nobody: every screen refetches once.
      this.#emit(null);
    });
    socket.on('disconnect', (reason) => {
      this.#setState('reconnecting');
      // socket.io does not retry after the server closed the socket (a restart does that).
      if (reason === 'io server disconnect') {
        clearTimeout(this.#reconnect);
        this.#reconnect = setTimeout(() => this.#socket?.connect(), 1000 + Math.random() * 2000);
      }
    });
    socket.on('connect_error', () => this.#setState('reconnecting'));
    socket.on('console:changed', (change) => {
      // A hint only makes screens refetch over HTTP, so a malformed one is harmless: refetch everything.
      this.#emit(change && typeof change === 'object' && typeof change.id === 'string' ? change : null);
    });
  }

  stop(): void {
    clearInterval(this.#poll);
    clearTimeout(this.#reconnect);
    this.#socket?.removeAllListeners();
    this.#socket?.disconnect();
    this.#socket = null;
    this.#listeners.clear();
    this.#stateListeners.clear();
  }

  /** RoleProps.onChange: returns the unsubscribe function. */
  readonly onChange = (listener: (hint: ChangeHint) => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  onState(listener: (state: LiveState) => void): () => void {
    this.#stateListeners.add(listener);
    listener(this.#state);
    return () => this.#stateListeners.delete(listener);
  }

  #emit(hint: ChangeHint): void {
    for (const l of [...this.#listeners]) l(hint);
  }

  #setState(state: LiveState): void {
    if (state === this.#state) return;
    this.#state = state;
    clearInterval(this.#poll);
    if (state !== 'live') this.#poll = setInterval(() => this.#emit(null), FALLBACK_POLL_MS);
    for (const l of [...this.#stateListeners]) l(state);
  }
}

/** Runs `fn` once a burst of hints has settled: a busy queue sends many, one refetch answers all. */
export function debounced(fn: () => void, ms = 250): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

let baseTitle = 'NL-Trade';
let titleCount = 0;

function applyTitle(): void {
  document.title = titleCount > 0 ? `(${titleCount}) ${baseTitle}` : baseTitle;
}

/** The shell names the page; a screen puts the number of things waiting in front of it. */
export function setBaseTitle(title: string): void {
  baseTitle = title;
  applyTitle();
}

export function setTitleCount(count: number): void {
  titleCount = Math.max(0, Math.trunc(count));
  applyTitle();
}
