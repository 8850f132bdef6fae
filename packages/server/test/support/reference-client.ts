import { constants, publicEncrypt } from 'node:crypto';

/**
 * A client of the Remote Invoice API written the way the protocol reference describes the
 * original's reference client (§3, §4): fetch the key with a form POST, decode it with
 * `atob` and a −13 Caesar shift on ASCII letters, add the verification word, encrypt the
 * JSON with RSAES-PKCS1-v1_5 and post `{data, access_token}`. Like the original it fetches
 * the key before every call and, told "Your key is too old", fetches it again and retries.
 */

export interface LegacyResponse {
  /** The HTTP status. */
  readonly http: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever the server sent.
  readonly json: any;
}

export const VERIFICATION_WORD = 'bandasosamba';

/** Letters only move; digits, `+`, `/`, `=`, `-` and newlines stay. */
export function unrot13(text: string): string {
  return text.replace(/[a-zA-Z]/g, (c) => {
    const base = c <= 'Z' ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 26 - 13) % 26) + base);
  });
}

export function encryptRequest(publicPem: string, request: Record<string, unknown>): string {
  const plaintext = Buffer.from(JSON.stringify({ ...request, verificationWord: VERIFICATION_WORD }), 'utf8');
  return publicEncrypt({ key: publicPem, padding: constants.RSA_PKCS1_PADDING }, plaintext).toString('base64');
}

export class ReferenceClient {
  readonly baseUrl: string;
  readonly accessToken: string;

  constructor(baseUrl: string, accessToken: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.accessToken = accessToken;
  }

  async fetchPublicKey(): Promise<string> {
    const res = await fetch(`${this.baseUrl}/helpers/getLatestPublicRemoteRsaKey.php`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: this.accessToken }).toString(),
    });
    const json = (await res.json()) as { status?: boolean; message?: string; response?: { data?: { result?: string } } };
    const result = json.response?.data?.result;
    if (!res.ok || json.status !== true || typeof result !== 'string')
      throw new Error(`key request failed (${res.status}): ${json.message}`);
    return unrot13(atob(result));
  }

  /** Posts an already encrypted `data` string. */
  async post(data: string): Promise<LegacyResponse> {
    const res = await fetch(`${this.baseUrl}/method/RemoteInvoiceApi`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data, access_token: this.accessToken }),
    });
    return { http: res.status, json: await res.json() };
  }

  /** Encrypts with the given key (no key fetch, no retry): for testing old or wrong keys. */
  async callWithKey(publicPem: string, request: Record<string, unknown>): Promise<LegacyResponse> {
    return this.post(encryptRequest(publicPem, request));
  }

  async call(request: Record<string, unknown>): Promise<LegacyResponse> {
    const first = await this.callWithKey(await this.fetchPublicKey(), request);
    if (first.http < 300 || first.json?.message !== 'Your key is too old') return first;
    return this.callWithKey(await this.fetchPublicKey(), request);
  }

  async create(title: string, price: string): Promise<string> {
    const res = await this.call({ type: 'create', title, price });
    if (res.http !== 200 || res.json.status !== true) throw new Error(`create failed (${res.http}): ${res.json.message}`);
    return res.json.response.data.yourLink;
  }
}

/**
 * What the original console client makes of an answer (protocol §2, §4): it throws any
 * non-2xx answer that carries a message — except "Your key is too old", after which it
 * fetches the key again — and its remove flow prints "Заявки не існує" for any 2xx answer
 * with `status: false`.
 */
export type OriginalReading = 'ok' | 'refused' | 'refetch-key' | `thrown: ${string}`;

export function originalReading(res: LegacyResponse): OriginalReading {
  if (res.http < 200 || res.http >= 300) {
    if (typeof res.json?.message !== 'string') return 'ok';
    return res.json.message === 'Your key is too old' ? 'refetch-key' : `thrown: ${res.json.message}`;
  }
  return res.json?.status === true ? 'ok' : 'refused';
}
