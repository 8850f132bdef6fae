import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  formatWebhookSignature,
  isWebhookEventType,
  parseWebhookSignature,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookEvent,
  webhookSignedContent,
} from '@nltrade/core';

export {
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookDeliveryView,
  type WebhookEndpointView,
  type WebhookEvent,
  type WebhookEventData,
  type WebhookEventType,
} from '@nltrade/core';

/** Why a delivery was not accepted as NL-Trade's. */
export type WebhookVerificationCode =
  | 'WEBHOOK_SIGNATURE_MISSING'
  | 'WEBHOOK_SIGNATURE_MALFORMED'
  | 'WEBHOOK_SIGNATURE_MISMATCH'
  | 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE'
  | 'WEBHOOK_BODY_INVALID'
  | 'WEBHOOK_SECRET_MISSING';

/**
 * What `verifyWebhook` throws: answer the delivery with a 400 and do not act on it.
 *
 * @example
 * ```ts
 * try { verifyWebhook(raw, header, secret); } catch (e) { if (e instanceof WebhookVerificationError) res.statusCode = 400; }
 * ```
 */
export class WebhookVerificationError extends Error {
  readonly code: WebhookVerificationCode;
  /** The HTTP status a receiver should answer with (always 400). */
  readonly httpStatus = 400;
  constructor(code: WebhookVerificationCode, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

export interface VerifyWebhookOptions {
  /** How far the signature's timestamp may be from `now`, in seconds (300). Replays older than this are refused. */
  toleranceSeconds?: number;
  /** The receiver's clock, Unix milliseconds (`Date.now()`); tests pass their own. */
  now?: number;
}

const hmacHex = (secret: string, content: string) => createHmac('sha256', secret).update(content, 'utf8').digest('hex');

function bodyText(rawBody: string | Uint8Array): string {
  return typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength).toString('utf8');
}

/**
 * Checks that a webhook delivery comes from NL-Trade and returns its event.
 *
 * Pass the body exactly as received (bytes or the undecoded string — not a re-serialised
 * object: any change breaks the signature), the `NLTrade-Signature` header, and the
 * endpoint's secret. During a rotation pass both secrets (or keep passing the old one until
 * you switch): the delivery is signed with each for 24 hours, and any one match is enough.
 * Signatures are compared in constant time. A timestamp more than `toleranceSeconds` away
 * from now is refused, so a captured delivery cannot be replayed later; deduplicate by
 * `event.id` (and order by `event.sequence` per invoice) for retries within that window.
 *
 * @throws WebhookVerificationError when the header is missing or malformed, no signature
 *   matches, the timestamp is out of tolerance, or the body is not an NL-Trade event.
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { verifyWebhook } from '@nltrade/sdk';
 *
 * http.createServer(async (req, res) => {
 *   const chunks: Buffer[] = [];
 *   for await (const c of req) chunks.push(c);
 *   try {
 *     const event = verifyWebhook(Buffer.concat(chunks), req.headers['nltrade-signature'], process.env.NLTRADE_WEBHOOK_SECRET!);
 *     if (event.type === 'invoice.status_changed' && event.data.to === 'success') markPaid(event.data.invoice.metadata.order_id);
 *     res.writeHead(200).end();
 *   } catch {
 *     res.writeHead(400).end();
 *   }
 * }).listen(3000);
 * ```
 */
export function verifyWebhook(
  rawBody: string | Uint8Array,
  signatureHeader: string | readonly string[] | null | undefined,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): WebhookEvent {
  const secrets = (typeof secret === 'string' ? [secret] : [...secret]).filter((s) => typeof s === 'string' && s.length > 0);
  if (secrets.length === 0) throw new WebhookVerificationError('WEBHOOK_SECRET_MISSING', 'No webhook secret to verify with');
  const header = Array.isArray(signatureHeader) ? signatureHeader.join(',') : signatureHeader;
  if (typeof header !== 'string' || header.length === 0) {
    throw new WebhookVerificationError('WEBHOOK_SIGNATURE_MISSING', 'The NLTrade-Signature header is missing');
  }
  const parsed = parseWebhookSignature(header);
  if (!parsed) {
    throw new WebhookVerificationError('WEBHOOK_SIGNATURE_MALFORMED', 'The NLTrade-Signature header is not `t=<unix>,v1=<hex>`');
  }
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - parsed.timestamp) > tolerance) {
    throw new WebhookVerificationError(
      'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE',
      `The signature's timestamp is ${nowSeconds - parsed.timestamp} s away from now (tolerance ${tolerance} s)`,
    );
  }
  const body = bodyText(rawBody);
  const content = webhookSignedContent(parsed.timestamp, body);
  let matched = false;
  // Every pair is compared, so the time taken does not say which secret or signature matched.
  for (const s of secrets) {
    const expected = Buffer.from(hmacHex(s, content), 'hex');
    for (const candidate of parsed.v1) {
      const given = Buffer.from(candidate, 'hex');
      if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
    }
  }
  if (!matched) throw new WebhookVerificationError('WEBHOOK_SIGNATURE_MISMATCH', 'No signature matches the body with this secret');
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    throw new WebhookVerificationError('WEBHOOK_BODY_INVALID', 'The signed body is not JSON');
  }
  const e = event as Partial<WebhookEvent> | null;
  if (!e || typeof e !== 'object' || typeof e.id !== 'string' || !isWebhookEventType(e.type) || typeof e.data !== 'object') {
    throw new WebhookVerificationError('WEBHOOK_BODY_INVALID', 'The signed body is not an NL-Trade event');
  }
  return e as WebhookEvent;
}

/**
 * The `NLTrade-Signature` header for a body, as the server makes it: one `v1` per secret.
 * For tests of a receiver, and for `nltrade webhooks listen`, which signs what it forwards.
 *
 * @example
 * ```ts
 * const body = JSON.stringify(event);
 * await fetch('http://localhost:3000/webhooks', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json', 'NLTrade-Signature': signWebhook(body, secret) },
 *   body,
 * });
 * ```
 */
export function signWebhook(rawBody: string | Uint8Array, secret: string | readonly string[], timestamp?: number): string {
  const t = timestamp ?? Math.floor(Date.now() / 1000);
  const content = webhookSignedContent(t, bodyText(rawBody));
  return formatWebhookSignature(
    t,
    (typeof secret === 'string' ? [secret] : secret).map((s) => hmacHex(s, content)),
  );
}
