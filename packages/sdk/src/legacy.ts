import { constants, publicEncrypt } from 'node:crypto';
import { ERROR_CATALOG, type LegacyCreated, type LegacyInvoice, type LegacyInvoiceList, rot13, VERIFICATION_WORD } from '@nltrade/core';
import { errorFromBody, NlTradeError } from './errors.ts';

export type { LegacyInvoice };

export interface RemoteInvoiceClientOptions {
  /** The server's base URL, e.g. `https://gateway.example`. */
  baseUrl: string;
  /** The merchant's access token. */
  accessToken: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** What `RemoteInvoiceClient.create` may add to the original protocol's title and price. */
export interface LegacyCreateOptions {
  /** An http(s) URL the checkout page offers the payer once the invoice has ended. */
  returnUrl?: string;
}

const TOO_OLD = ERROR_CATALOG.KEY_TOO_OLD.message;

/** Sealed `get` envelopes kept per client (one per invoice being polled). */
const SEALED_GETS = 1024;

/**
 * A client of the NL-Trade Remote Invoice API (the RSA-enveloped legacy protocol), for
 * Node.js. Unlike the original reference client it caches the public key and fetches it
 * again only when the server says the key is too old.
 *
 * @example
 * ```ts
 * import { RemoteInvoiceClient } from '@nltrade/sdk';
 * const api = new RemoteInvoiceClient({ baseUrl: 'http://127.0.0.1:8080', accessToken: process.env.NLTRADE_TOKEN! });
 * const uid = await api.create('Order #42', '1500.00');
 * const invoice = await api.get(uid);
 * ```
 */
export class RemoteInvoiceClient {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  #key: Promise<string> | undefined;
  /** `get` envelopes by UID, with the key they were sealed for (see `get`). */
  readonly #sealed = new Map<string, { pem: string; data: string }>();

  constructor(options: RemoteInvoiceClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.accessToken;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  /**
   * The merchant's current public key (PKCS#1 PEM), fetched once and cached.
   *
   * @example
   * ```ts
   * const pem = await api.publicKey();
   * ```
   */
  publicKey(): Promise<string> {
    this.#key ??= this.#fetchKey().catch((err: unknown) => {
      this.#key = undefined;
      throw err;
    });
    return this.#key;
  }

  /**
   * Creates an invoice; returns its UID (`uid_link`), the part of the payer's link. With
   * `returnUrl` (an http(s) URL) the checkout page offers the payer a way back to your shop
   * once the invoice has ended; servers that predate it ignore it.
   *
   * @example
   * ```ts
   * const uid = await api.create('Order #42', '1500.00');
   * const back = await api.create('Order #43', '990.00', { returnUrl: 'https://shop.example/orders/43' });
   * ```
   */
  async create(title: string, price: string, options: LegacyCreateOptions = {}): Promise<string> {
    const request: Record<string, unknown> = { type: 'create', title, price };
    if (options.returnUrl !== undefined) request.return_url = options.returnUrl;
    const data = await this.call<LegacyCreated>(request);
    return data.yourLink;
  }

  /**
   * Reads one invoice. Polling the same invoice sends the same envelope each time (sealed
   * once per key): the server then answers from the envelopes it has already opened, with no
   * RSA operation on either side. The request is the same either way, and anyone who could
   * see the envelope could already send it again.
   *
   * @example
   * ```ts
   * const { status, card_f_pay } = await api.get(uid);
   * ```
   */
  async get(uid: string): Promise<LegacyInvoice> {
    const data = await this.#withKey((pem) => this.#send<LegacyInvoiceList>(pem, { type: 'get', uid_link: uid }, uid));
    const invoice = data.invoice[0];
    if (!invoice) throw new NlTradeError('BAD_RESPONSE', 200, 'The server returned no invoice');
    return invoice;
  }

  /**
   * The payer says they paid (`send card` → `pay`). Must come from the IP bound to the invoice.
   *
   * @example
   * ```ts
   * await api.markPaid(uid);
   * ```
   */
  async markPaid(uid: string, log = 'Заявка оплаченна клієнтом'): Promise<void> {
    await this.call({ type: 'update', uid_link: uid, status: 'pay', log });
  }

  /**
   * Sends the URL of the payer's receipt photo after a dispute (`waitPhoto` → `notApprove`).
   *
   * @example
   * ```ts
   * await api.sendProofPhoto(uid, 'https://shop.example/receipts/42.jpg');
   * ```
   */
  async sendProofPhoto(uid: string, photoUrl: string, log = 'Фото підтвердження відправленно'): Promise<void> {
    await this.call({ type: 'update', uid_link: uid, status: 'notApprove', approve_photo: photoUrl, log });
  }

  /**
   * Cancels an invoice the payer has not paid yet; the record stays, with status `canceled`.
   *
   * @example
   * ```ts
   * await api.remove(uid);
   * ```
   */
  async remove(uid: string): Promise<void> {
    await this.call({ type: 'remove', uid_link: uid });
  }

  /**
   * Sends any request object through the envelope and returns `response.data`. On "Your key
   * is too old" it fetches the new key once and retries.
   *
   * @example
   * ```ts
   * const data = await api.call<{ yourLink: string }>({ type: 'create', title: 'x', price: '1' });
   * ```
   */
  async call<T = unknown>(request: Record<string, unknown>): Promise<T> {
    return this.#withKey((pem) => this.#send<T>(pem, request));
  }

  /** Runs `send` with the current key; on "Your key is too old", once more with a fresh one. */
  async #withKey<T>(send: (pem: string) => Promise<T>): Promise<T> {
    try {
      return await send(await this.publicKey());
    } catch (err) {
      if (!(err instanceof NlTradeError) || err.message !== TOO_OLD) throw err;
      this.#key = undefined;
      this.#sealed.clear();
      return send(await this.publicKey());
    }
  }

  /** Seals `request` for `pem` and posts it; with `reuse`, the envelope is kept under that name for the next identical call. */
  async #send<T>(pem: string, request: Record<string, unknown>, reuse?: string): Promise<T> {
    const kept = reuse === undefined ? undefined : this.#sealed.get(reuse);
    const data = kept?.pem === pem ? kept.data : this.#seal(pem, request);
    if (reuse !== undefined && kept?.data !== data) {
      if (this.#sealed.size >= SEALED_GETS) this.#sealed.clear();
      this.#sealed.set(reuse, { pem, data });
    }
    const json = await this.#post('/method/RemoteInvoiceApi', 'application/json', JSON.stringify({ data, access_token: this.#token }));
    return (json as { response?: { data?: T } }).response?.data as T;
  }

  #seal(pem: string, request: Record<string, unknown>): string {
    const plaintext = Buffer.from(JSON.stringify({ ...request, verificationWord: VERIFICATION_WORD }), 'utf8');
    try {
      return publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_PADDING }, plaintext).toString('base64');
    } catch {
      throw new NlTradeError('REQUEST_TOO_LARGE', 0, `The request (${plaintext.length} bytes) does not fit one RSA block of this key`);
    }
  }

  async #fetchKey(): Promise<string> {
    const body = new URLSearchParams({ access_token: this.#token }).toString();
    const json = (await this.#post('/helpers/getLatestPublicRemoteRsaKey.php', 'application/x-www-form-urlencoded', body)) as {
      response?: { data?: { result?: string } };
    };
    const result = json.response?.data?.result;
    if (typeof result !== 'string') throw new NlTradeError('BAD_RESPONSE', 200, 'The key answer has no result');
    return rot13(Buffer.from(result, 'base64').toString('utf8'));
  }

  async #post(path: string, type: string, body: string): Promise<unknown> {
    let res: Response;
    try {
      res = await this.#fetch(this.#baseUrl + path, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new NlTradeError('NETWORK', 0, `Cannot reach ${this.#baseUrl}: ${(err as Error).message}`);
    }
    let json: { status?: boolean; code?: string; message?: string };
    try {
      json = (await res.json()) as typeof json;
    } catch {
      throw new NlTradeError('BAD_RESPONSE', res.status, `The server answered ${res.status} with a non-JSON body`);
    }
    if (!res.ok || json.status !== true) throw errorFromBody(res.status, json);
    return json;
  }
}

/**
 * The history of a legacy invoice record, parsed from its `exchange_log` string.
 *
 * @example
 * ```ts
 * for (const { date, status } of historyOf(await api.get(uid))) console.log(date, status);
 * ```
 */
export function historyOf(invoice: Pick<LegacyInvoice, 'exchange_log'>): { date: string; status: string }[] {
  const parsed: unknown = JSON.parse(invoice.exchange_log);
  return Array.isArray(parsed) ? (parsed as { date: string; status: string }[]) : [];
}
