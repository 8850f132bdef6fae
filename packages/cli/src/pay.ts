/**
 * `nltrade pay UID`: the payer's side of an invoice in a terminal, as the original console
 * example does it — join the invoice's room (which binds it to this machine's IP), show the
 * status and the card, report "paid", and send a receipt photo when the trader asks for one.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {
  type CheckoutView,
  type ClientToServerEvents,
  FINAL_STATUSES,
  REALTIME_PATH,
  type RealtimeError,
  type ServerToClientEvents,
} from '@nltrade/core';
import type { Socket } from 'socket.io-client';

export interface PayOptions {
  /** The server's base URL. */
  url: string;
  uid: string;
  /** A receipt photo to send if the trader disputes the payment; asked for on `input` otherwise. */
  photo?: string | undefined;
  /** Report "paid" as soon as the card is shown, without asking. */
  paid?: boolean;
  /** One JSON line per new view on `out`, instead of sentences. */
  json?: boolean;
  /** Where answers to the prompts come from (standard input). */
  input?: NodeJS.ReadableStream;
  /** Lines for the user (standard output). */
  out?: (line: string) => void;
  /** Prompts and notes that must not mix with `--json` output (standard error). */
  err?: (line: string) => void;
}

/** How often the view is read over HTTP as well, in case a socket update went missing. */
const SAFETY_POLL_MS = 5000;

class PayError extends Error {}

const MIME: Readonly<Record<string, string>> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
};

/** "4242424242424242" → "4242 4242 4242 4242", as the number is printed on a card. */
const grouped = (card: string) => card.replace(/(\d{4})(?=\d)/g, '$1 ');

/** Lines typed by the user, asked for one at a time; null once the input has ended. */
class Prompter {
  readonly #rl: readline.Interface;
  readonly #lines: string[] = [];
  #waiting: ((line: string | null) => void) | undefined;
  #closed = false;

  constructor(input: NodeJS.ReadableStream) {
    this.#rl = readline.createInterface({ input, terminal: false });
    this.#rl.on('line', (line) => {
      if (this.#waiting) {
        const w = this.#waiting;
        this.#waiting = undefined;
        w(line);
      } else {
        this.#lines.push(line);
      }
    });
    this.#rl.on('close', () => {
      this.#closed = true;
      this.#waiting?.(null);
      this.#waiting = undefined;
    });
  }

  next(): Promise<string | null> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  close(): void {
    this.#rl.close();
  }
}

/**
 * Pays one invoice interactively (or with `paid` and `photo`, from a script). Resolves with
 * the exit code: 0 when the invoice ends `success`, 1 when it ends otherwise or cannot be
 * paid from here (unknown, bound to another payer).
 */
export async function pay(options: PayOptions): Promise<number> {
  const base = options.url.replace(/\/+$/, '');
  const out = options.out ?? ((line: string) => console.log(line));
  const err = options.err ?? ((line: string) => console.error(line));
  const say = (line: string) => {
    if (!options.json) out(line);
  };
  const uidPath = `/v1/checkout/${encodeURIComponent(options.uid)}`;

  async function request(method: 'GET' | 'POST', suffix = '', body?: FormData): Promise<CheckoutView> {
    let res: Response;
    try {
      res = await fetch(base + uidPath + suffix, {
        method,
        headers: { accept: 'application/json', ...(method === 'POST' && !body && { 'content-type': 'application/json' }) },
        body: body ?? (method === 'POST' ? '{}' : null),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (e) {
      throw new PayError(`Cannot reach ${base}: ${(e as Error).message}`);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const code = typeof json.code === 'string' ? json.code : `HTTP ${res.status}`;
      throw new PayError(`${typeof json.message === 'string' ? json.message : 'Request failed'} (${code})`);
    }
    return json as unknown as CheckoutView;
  }

  // An unknown invoice is told plainly before anything is bound.
  const first = await request('GET');
  say(
    `Invoice ${first.uid}: "${first.title}", ${first.amount} ${first.currency}${first.sandbox ? ' (sandbox: test card, no real money)' : ''}`,
  );

  let prompter: Prompter | undefined;
  const ask = async (question: string): Promise<string | null> => {
    prompter ??= new Prompter(options.input ?? process.stdin);
    err(question);
    return prompter.next();
  };

  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let done = false;
  const end = (code: number, message?: string) => {
    if (done) return;
    done = true;
    if (message) err(`nltrade: ${message}`);
    finish(code);
  };

  let version = -1;
  let shownKey = '';
  let lastStatus: string | undefined;
  let lastAmount = first.amount;
  /** Each step is taken once, and never twice at the same time. */
  let paidSent = false;
  let photoSent = false;
  let busy = false;
  let latest: CheckoutView = first;

  /** Acts on the newest view; views arriving meanwhile are acted on when the step ends. */
  const step = async () => {
    if (busy) return;
    busy = true;
    try {
      for (let seen: CheckoutView | undefined; seen !== latest && !done; ) {
        seen = latest;
        await act(seen);
      }
    } finally {
      busy = false;
    }
  };

  const act = async (view: CheckoutView): Promise<void> => {
    try {
      if (view.status === 'send card' && view.card && /^\d+$/.test(view.card) && !paidSent) {
        if (!options.paid) {
          const line = await ask('Press Enter when you have paid (Ctrl+C to stop here).');
          if (line === null) return end(1, 'the input ended before the payment was reported');
        }
        paidSent = true;
        say('Reporting the payment ("paid")…');
        show(await request('POST', '/paid'));
      } else if (view.status === 'waitPhoto' && !photoSent) {
        for (;;) {
          let file = options.photo;
          if (!file) {
            file = (await ask('The trader did not receive the payment. Path to the receipt photo (JPEG, PNG or WebP):')) ?? undefined;
            if (file === undefined) return end(1, 'a receipt photo is needed: pass --photo FILE');
            file = file.trim();
          }
          try {
            const data = fs.readFileSync(file);
            const form = new FormData();
            const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
            form.append('photo', new Blob([new Uint8Array(data)], { type }), path.basename(file));
            say(`Sending the receipt photo ${file}…`);
            photoSent = true;
            show(await request('POST', '/photo', form));
            break;
          } catch (e) {
            photoSent = false;
            if (options.photo) return end(1, `cannot send the photo ${file}: ${(e as Error).message}`);
            err(`nltrade: cannot send the photo ${file}: ${(e as Error).message}`);
          }
        }
      }
    } catch (e) {
      // A refused "paid" (the deadline passed meanwhile) is not the end: the server's timers decide.
      err(`nltrade: ${(e as Error).message}`);
    }
  };

  const show = (view: CheckoutView) => {
    // The join's view and a read just before it share a version; the join's shows the card.
    const key = `${view.version}|${view.card ?? ''}|${view.boundTo}`;
    if (view.version < version || key === shownKey || done) return;
    version = view.version;
    shownKey = key;
    if (view.boundTo === 'another') return end(1, 'this invoice is bound to another payer (IP_MISMATCH)');
    if (options.json) out(JSON.stringify(view));
    if (view.status !== lastStatus) {
      say(`Status: ${view.statusLabel.en} (${view.status})`);
      lastStatus = view.status;
    }
    if (view.amount !== lastAmount) {
      say(`The trader changed the amount: ${lastAmount} → ${view.amount} ${view.currency}`);
      lastAmount = view.amount;
    }
    if (view.status === 'send card' && view.card && /^\d+$/.test(view.card)) {
      say(`Pay ${view.amount} ${view.currency} to card ${grouped(view.card)}${view.deadlineAt ? ` by ${view.deadlineAt}` : ''}`);
    }
    if (FINAL_STATUSES.has(view.status)) {
      if (view.resolution) say(`Resolution: ${view.resolution}`);
      return end(view.status === 'success' ? 0 : 1);
    }
    latest = view;
    void step();
  };

  const refresh = () => {
    request('GET').then(show, (e: unknown) => err(`nltrade: ${(e as Error).message}`));
  };
  // A payer already bound elsewhere is told so before this machine joins at all.
  show(first);
  if (done) return finished;
  const { io } = await import('socket.io-client');
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(base, {
    path: REALTIME_PATH,
    transports: ['websocket', 'polling'],
  });
  socket.on('connect', () => socket.emit('invoice:join', options.uid));
  socket.on('ip:send', (ip) => say(`Joined; the invoice is bound to the payer at ${ip}`));
  socket.on('invoice:update', (view) => show(view));
  socket.on('invoce:refetch', refresh);
  socket.on('invoice:error', (e: RealtimeError) => end(1, `${e.message} (${e.code})`));
  const poll = setInterval(refresh, SAFETY_POLL_MS);
  poll.unref();

  try {
    return await finished;
  } finally {
    clearInterval(poll);
    socket.disconnect();
    prompter?.close();
  }
}
