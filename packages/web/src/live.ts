import { type ClientToServerEvents, FINAL_STATUSES, isErrorCode, REALTIME_PATH, type ServerToClientEvents } from '@nltrade/core';
import { io, type Socket } from 'socket.io-client';
import { ApiError, fetchView } from './api.ts';
import { isFullCard } from './format.ts';
import type { CheckoutView } from './types.ts';

/** `live`: socket joined; `polling`: socket down, GET every few seconds; `offline`: even GET fails. */
export type Connection = 'connecting' | 'live' | 'polling' | 'offline';

export interface LiveHandlers {
  /**
   * Only views newer than any seen before, or as new but disclosing more (see `disclosure`);
   * `fromHttp` views carry this browser's `viewerIp`.
   */
  view(view: CheckoutView, fromHttp: boolean, receivedAt: number): void;
  ownerIp(ip: string): void;
  connection(state: Connection): void;
  /** Errors that end the page's life: unknown invoice, invoice bound to someone else. */
  fatal(err: ApiError): void;
}

const POLL_MS = 4000;
// Even with a healthy socket an occasional GET heals a missed event at negligible cost.
const SAFETY_POLL_MS = 30_000;
// `invoce:refetch` and `invoice:update` arrive together; the GET is needed only when no update follows.
const REFETCH_GRACE_MS = 250;

/**
 * What a view discloses to this browser. Binding the invoice to the payer's IP does not change
 * its `version`, so a read made just before the join (masked card, nobody bound) and the view
 * the join sends (full card, bound to you) share a version: only this tells them apart.
 * A binding is never undone, so at one version more is always newer.
 */
function disclosure(view: CheckoutView): number {
  if (view.boundTo === 'you' || isFullCard(view.card)) return 2;
  return view.boundTo === 'another' ? 1 : 0;
}

/** Keeps one invoice's view current: socket first, polling while the socket is down. */
export class LiveInvoice {
  private readonly uid: string;
  private readonly on: LiveHandlers;
  private socket: Socket<ServerToClientEvents, ClientToServerEvents> | null = null;
  private version = -1;
  private disclosed = -1;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refetchTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private inflight: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private live = false;
  private waitingForBind = false;

  constructor(uid: string, handlers: LiveHandlers) {
    this.uid = uid;
    this.on = handlers;
  }

  start(): void {
    this.on.connection('connecting');
    // WebSocket first: no long-poll to upgrade from (which a restart can catch half-way);
    // long-polling remains for networks that block WebSockets, since joining binds the IP.
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
      path: REALTIME_PATH,
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      reconnectionDelayMax: 4000,
      timeout: 8000,
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.live = true;
      this.on.connection('live');
      // Rooms do not survive a reconnect: join again, and resync what was missed meanwhile.
      socket.emit('invoice:join', this.uid);
      void this.refresh();
    });
    socket.on('disconnect', (reason) => {
      this.socketDown();
      // socket.io gives up for good when the server closed the socket (a restart or deploy
      // does that); the page still wants live updates once a server is back.
      if (reason === 'io server disconnect') {
        clearTimeout(this.reconnectTimer);
        this.reconnectTimer = setTimeout(() => this.socket?.connect(), 1000 + Math.random() * 2000);
      }
    });
    socket.on('connect_error', () => this.socketDown());
    socket.on('ip:send', (ip: unknown) => {
      if (typeof ip !== 'string') return;
      this.on.ownerIp(ip);
      // A GET that raced ahead of our own join found nobody bound; now somebody is. The
      // join's own update normally says so too, but a server that sends only `ip:send` (the
      // original protocol) must not leave the payer looking at a masked card.
      if (this.waitingForBind || this.disclosed < 2) {
        this.waitingForBind = false;
        void this.refresh(true);
      }
    });
    socket.on('invoce:refetch', () => {
      clearTimeout(this.refetchTimer);
      this.refetchTimer = setTimeout(() => void this.refresh(), REFETCH_GRACE_MS);
    });
    socket.on('invoice:update', (view: unknown) => {
      clearTimeout(this.refetchTimer);
      if (view && typeof view === 'object' && typeof (view as CheckoutView).version === 'number') {
        this.accept(view as CheckoutView, false);
      }
    });
    socket.on('invoice:error', (err: unknown) => {
      const e = err as { code?: unknown; message?: unknown } | null;
      const code = isErrorCode(e?.code) ? e.code : 'INVOICE_NOT_FOUND';
      if (code === 'INVOICE_NOT_FOUND' || code === 'IP_MISMATCH') {
        this.on.fatal(new ApiError(code, typeof e?.message === 'string' ? e.message : code, code === 'IP_MISMATCH' ? 403 : 404));
        this.stop();
      }
    });
    void this.refresh();
  }

  /** Feeds a view from elsewhere (an action's answer) through the same filter. */
  accept(view: CheckoutView, fromHttp: boolean, receivedAt: number = Date.now()): void {
    if (this.stopped) return;
    const disclosed = disclosure(view);
    if (view.version < this.version || (view.version === this.version && disclosed <= this.disclosed)) return;
    this.version = view.version;
    this.disclosed = disclosed;
    this.on.view(view, fromHttp, receivedAt);
    // A final status never changes again: let the server forget this page.
    if (FINAL_STATUSES.has(view.status)) this.stop();
  }

  /**
   * One GET at a time; callers during a GET share it. `fresh`: the answer must reflect
   * something that just happened, which a GET already under way may predate, so another
   * follows it.
   */
  refresh(fresh = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inflight) {
      if (fresh) this.again = true;
      return this.inflight;
    }
    this.inflight = (async () => {
      try {
        const view = await fetchView(this.uid);
        this.accept(view, true);
        if (!this.live) this.on.connection('polling');
      } catch (err) {
        this.failed(err instanceof ApiError ? err : new ApiError('NETWORK', String(err), 0));
      } finally {
        this.inflight = null;
        if (this.again) {
          this.again = false;
          void this.refresh();
        } else {
          this.schedule();
        }
      }
    })();
    return this.inflight;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.refetchTimer);
    clearTimeout(this.reconnectTimer);
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
  }

  private failed(err: ApiError): void {
    if (err.code === 'INVOICE_NOT_FOUND' || err.code === 'IP_MISMATCH') {
      this.on.fatal(err);
      this.stop();
    } else if (err.code === 'IP_NOT_BOUND') {
      this.waitingForBind = true;
    } else if (!this.live) {
      this.on.connection('offline');
    }
  }

  private socketDown(): void {
    if (this.stopped) return;
    this.live = false;
    this.on.connection('polling');
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), this.live ? SAFETY_POLL_MS : POLL_MS);
  }
}
