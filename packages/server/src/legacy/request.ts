import { AppError, assertUid, cleanHttpUrl, cleanText, LIMITS, VERIFICATION_WORD } from '@nltrade/core';
import { plausibleToken } from '../services/tokens.ts';

export { VERIFICATION_WORD };

/** Enough for an 8192-bit key (the largest RSA_KEY_BITS allows). */
export const MAX_CIPHERTEXT_BYTES = 1024;

export type LegacyRequest = Readonly<Record<string, unknown>>;

// The alphabet and at most two '=' at the end; the lengths are checked apart (see isBase64),
// which costs a fraction of one regex doing both on a 700-character string per request.
const BASE64_CHARS_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const LINE_BREAK_RE = /[\r\n]/g;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The access token of a request body (form or JSON), or UNAUTHORIZED. */
export function accessTokenOf(body: unknown): string {
  const token = isRecord(body) ? body.access_token : undefined;
  if (!plausibleToken(token)) throw new AppError('UNAUTHORIZED');
  return token;
}

/**
 * The ciphertext of a RemoteInvoiceApi body. Only the shape is checked here; a ciphertext of
 * the wrong length still goes through decryption (it gets a synthetic message), so that it
 * is answered exactly like any other undecryptable request.
 */
export function ciphertextOf(body: unknown): Buffer {
  const data = isRecord(body) ? body.data : undefined;
  if (typeof data !== 'string') throw new AppError('BAD_REQUEST', 'data must be a base64 string (the RSA-encrypted request)');
  const tooLong = () => new AppError('BAD_REQUEST', `data is too long: one RSA block is at most ${MAX_CIPHERTEXT_BYTES} bytes`);
  if (data.length > MAX_CIPHERTEXT_BYTES * 2) throw tooLong();
  // Some base64 encoders wrap lines, and a form-encoded body whose '+' was not escaped
  // arrives with spaces in its place; either way the ciphertext is still all there.
  let clean = data;
  if (clean.includes('\n') || clean.includes('\r')) clean = clean.replace(LINE_BREAK_RE, '');
  if (clean.includes(' ')) clean = clean.replaceAll(' ', '+');
  if (clean.length === 0) throw new AppError('BAD_REQUEST', 'data is empty');
  if (clean.length > Math.ceil(MAX_CIPHERTEXT_BYTES / 3) * 4) throw tooLong();
  if (!isBase64(clean)) throw new AppError('BAD_REQUEST', 'data is not valid base64');
  return Buffer.from(clean, 'base64');
}

/** Standard base64, padded or not: whole groups of 4, then 2 or 3 characters with or without their '='. */
function isBase64(text: string): boolean {
  if (!BASE64_CHARS_RE.test(text)) return false;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const chars = text.length - padding;
  if (chars % 4 === 1) return false;
  return padding === 0 || (chars + padding) % 4 === 0;
}

/**
 * A decrypted plaintext as a request object, or null when it is not one: not UTF-8, not
 * JSON, not an object, or without the verification word. Every one of those is the same
 * outcome on purpose (a synthetic message from a bad padding lands here too).
 */
export function parseDecrypted(plaintext: Uint8Array): LegacyRequest | null {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(plaintext));
  } catch {
    return null;
  }
  if (!isRecord(value) || value.verificationWord !== VERIFICATION_WORD) return null;
  return value;
}

export type LegacyType = 'create' | 'get' | 'update' | 'remove';
const TYPES: readonly string[] = ['create', 'get', 'update', 'remove'];

export function requestType(request: LegacyRequest): LegacyType {
  const type = request.type;
  if (typeof type === 'string' && TYPES.includes(type)) return type as LegacyType;
  const shown = typeof type === 'string' ? `"${type.slice(0, 40)}"` : type === undefined ? 'missing' : `a ${typeof type}`;
  throw new AppError('UNKNOWN_REQUEST_TYPE', `Unknown request type (${shown}); expected create, get, update or remove`);
}

/** A malformed `uid_link` names no invoice: "Invoice not found", which the original client shows as such. */
export function uidOf(request: LegacyRequest): string {
  const uid = request.uid_link;
  if (uid === undefined || uid === null || uid === '')
    throw new AppError('VALIDATION_FAILED', 'uid_link is missing', { param: 'uid_link' });
  return assertUid(uid);
}

/** The payer's two moves, the only changes `update` may make. */
export type PayerMove = { readonly action: 'paid' } | { readonly action: 'proofPhoto'; readonly photoUrl: string };

export interface UpdateRequest {
  readonly uid: string;
  readonly move: PayerMove;
  /** The caller's history line, when given. */
  readonly note: string | undefined;
}

const UPDATE_KEYS: ReadonlySet<string> = new Set(['type', 'uid_link', 'verificationWord', 'status', 'approve_photo', 'log']);

/**
 * The original let `update` write any column; ours accepts exactly the payer's "paid"
 * (`status: "pay"`) and the proof photo (`approve_photo`, optionally with
 * `status: "notApprove"`), each with an optional `log` line. Anything else is refused by name.
 */
export function parseUpdate(request: LegacyRequest): UpdateRequest {
  for (const key of Object.keys(request)) {
    if (!UPDATE_KEYS.has(key)) {
      throw new AppError(
        'FIELD_NOT_ALLOWED',
        `The field "${key.slice(0, 60)}" cannot be changed by update; allowed: status, approve_photo, log`,
      );
    }
  }
  const uid = uidOf(request);
  const { status, approve_photo: photo, log } = request;
  const note = cleanText(log, { field: 'log', max: LIMITS.logChars }) ?? undefined;
  if (status !== undefined && status !== 'pay' && status !== 'notApprove') {
    const shown = typeof status === 'string' ? `"${status.slice(0, 40)}"` : `a ${status === null ? 'null' : typeof status}`;
    throw new AppError('FIELD_NOT_ALLOWED', `The field "status" cannot be set to ${shown}; update accepts only "pay" or "notApprove"`);
  }
  if (status === 'pay') {
    if (photo !== undefined) {
      throw new AppError('FIELD_NOT_ALLOWED', 'The field "approve_photo" cannot be sent with status "pay"');
    }
    return { uid, move: { action: 'paid' }, note };
  }
  if (photo === undefined) {
    throw new AppError(
      'VALIDATION_FAILED',
      status === 'notApprove'
        ? 'approve_photo is required with status "notApprove"'
        : 'Nothing to update: send status "pay" or approve_photo',
    );
  }
  return { uid, move: { action: 'proofPhoto', photoUrl: photoUrlOf(photo) }, note };
}

/** The photo URL is later shown to administrators as a link, so only http(s) URLs pass. */
function photoUrlOf(value: unknown): string {
  return cleanHttpUrl(value, { field: 'approve_photo', max: LIMITS.photoUrlChars, required: true });
}
