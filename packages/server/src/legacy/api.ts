import { createHash } from 'node:crypto';
import { AppError, type LegacyCreated, type LegacyInvoiceList } from '@nltrade/core';
import type { MerchantAuth } from '../services/merchants.ts';
import type { System } from '../system.ts';
import { LegacyReads } from './reads.ts';
import { encodePublicKey } from './record.ts';
import { accessTokenOf, ciphertextOf, type LegacyRequest, parseUpdate, requestType, uidOf } from './request.ts';

export interface LegacyAnswer<T> {
  status: true;
  response: { data: T };
}

const answer = <T>(data: T): LegacyAnswer<T> => ({ status: true, response: { data } });

/** The same answer for every request that does not decrypt to a valid request object. */
const undecryptable = (): AppError =>
  new AppError('BAD_REQUEST', 'The data could not be decrypted into a valid request; check the key, the padding and the verification word');

function currentKey(auth: MerchantAuth): number[] {
  const key = auth.keys[0];
  return key?.state === 'current' ? [key.id] : [];
}

/** Envelopes kept opened per process: the invoices merchants poll at one time, with room to spare. */
export const OPENED_ENVELOPES = 4096;

/**
 * Requests already decrypted, by merchant, key and ciphertext. A merchant's backend polls an
 * invoice with `get` until it ends; a client that sends the same envelope again for the same
 * request (as @nltrade/sdk does for `get`) then costs no RSA operation, which is most of what
 * a call costs the server. Only envelopes opened with the merchant's current key, after its
 * token was checked, are kept: after a rotation the same envelope is "too old" again, and
 * another merchant's token never matches the key. Resending an envelope was always possible
 * (the protocol has no nonce); answering it from here changes no answer. Oldest out first.
 */
class OpenedEnvelopes {
  readonly #requests = new Map<string, string>();

  static key(merchantId: string, keyId: number, ciphertext: Uint8Array): string {
    return `${merchantId}:${keyId}:${createHash('sha256').update(ciphertext).digest('base64')}`;
  }

  get(key: string): LegacyRequest | undefined {
    const json = this.#requests.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as LegacyRequest);
  }

  set(key: string, request: LegacyRequest): void {
    if (this.#requests.size >= OPENED_ENVELOPES) {
      const oldest = this.#requests.keys().next();
      if (!oldest.done) this.#requests.delete(oldest.value);
    }
    this.#requests.set(key, JSON.stringify(request));
  }
}

/** The NL-Trade Remote Invoice API (protocol §3, §4) on top of the services. */
export class LegacyApi {
  readonly #system: System;
  readonly #reads: LegacyReads;
  readonly #opened = new OpenedEnvelopes();

  constructor(system: System) {
    this.#system = system;
    this.#reads = new LegacyReads(system.storage.db);
  }

  /** `getLatestPublicRemoteRsaKey.php`: the current public key, base64(rot13(PKCS#1 PEM)). */
  async publicKey(body: unknown): Promise<LegacyAnswer<{ result: string }>> {
    const merchant = await this.#system.merchants.authenticate(accessTokenOf(body));
    if (!merchant) throw new AppError('UNAUTHORIZED');
    return answer({ result: encodePublicKey(await this.#system.merchants.currentPublicPem(merchant.id)) });
  }

  /** `RemoteInvoiceApi`: `{data, access_token}`, data = RSA-encrypted request JSON. */
  async call(body: unknown, clientIp: string): Promise<LegacyAnswer<unknown>> {
    const { merchants, rsa } = this.#system;
    // The token is checked before any RSA work, so strangers cannot make us spend it.
    const token = accessTokenOf(body);
    let found = await merchants.authenticateWithKeys(token);
    if (!found) throw new AppError('UNAUTHORIZED');
    const ciphertext = ciphertextOf(body);
    // The pool queues per merchant (a merchant beyond its bound gets UNAVAILABLE, no one else).
    const merchantId = found.merchant.id;
    const current = currentKey(found)[0];
    const openedKey = current === undefined ? undefined : OpenedEnvelopes.key(merchantId, current, ciphertext);
    const opened = openedKey === undefined ? undefined : this.#opened.get(openedKey);
    if (opened) return this.#dispatch(merchantId, opened, clientIp, found.merchant.sandbox);
    // A valid request costs one RSA operation; only a failure pays for the retired keys.
    let outcome = await rsa.decrypt(merchantId, currentKey(found), ciphertext);
    if (outcome.request !== null && openedKey !== undefined) this.#opened.set(openedKey, outcome.request);
    if (outcome.request === null) {
      // The key list may be up to a second old: a key rotated on another node meanwhile is
      // the client's new current key. Whether the list changed is no secret of the request.
      const fresh = await merchants.authenticateWithKeys(token, { fresh: true });
      if (fresh && fresh.keys[0]?.id !== found.keys[0]?.id) {
        found = fresh;
        outcome = await rsa.decrypt(merchantId, currentKey(found), ciphertext);
      }
    }
    if (outcome.request === null) {
      const retired = found.keys.filter((k) => k.state === 'retired').map((k) => k.id);
      const old = await rsa.decrypt(merchantId, retired, ciphertext);
      throw old.request === null ? undecryptable() : new AppError('KEY_TOO_OLD');
    }
    return this.#dispatch(merchantId, outcome.request, clientIp, found.merchant.sandbox);
  }

  async #dispatch(merchantId: string, request: LegacyRequest, clientIp: string, sandbox: boolean): Promise<LegacyAnswer<unknown>> {
    const { invoices } = this.#system;
    switch (requestType(request)) {
      case 'create': {
        // `return_url` is ours (old clients never send it): where the checkout page sends the payer back.
        const invoice = await invoices.create(merchantId, {
          title: request.title,
          price: request.price,
          returnUrl: request.return_url,
          sandbox,
        });
        return answer({ yourLink: invoice.uid } satisfies LegacyCreated);
      }
      case 'get': {
        return answer({ invoice: [await this.#reads.record(uidOf(request), merchantId)] } satisfies LegacyInvoiceList);
      }
      case 'update': {
        const update = parseUpdate(request);
        const payer = { type: 'payer', id: clientIp } as const;
        const options = { merchantId, ...(update.note !== undefined && { note: update.note }) };
        if (update.move.action === 'paid') {
          await invoices.act(update.uid, 'paid', payer, {}, options);
        } else {
          await this.#system.photos.assertUsableFor(update.uid, update.move.photoUrl);
          await invoices.act(update.uid, 'proofPhoto', payer, { photoUrl: update.move.photoUrl }, options);
        }
        return answer({});
      }
      case 'remove': {
        await invoices.act(uidOf(request), 'remove', { type: 'merchant', id: merchantId }, {}, { merchantId });
        return answer({});
      }
    }
  }
}
