import { AppError } from './errors.ts';

/** Invoice UIDs (`uid_link`): 30 characters of [a-z0-9], as the original issues them. */
export const UID_RE = /^[a-z0-9]{30}$/;
export const UID_LENGTH = 30;

/** The checkout page's path, `/pay/<uid>` (a trailing slash allowed). */
export const CHECKOUT_PATH_RE = new RegExp(`^/pay/(${UID_RE.source.slice(1, -1)})/?$`);

/** The UID in a checkout page's path, or null for any other path. */
export function checkoutUid(pathname: string): string | null {
  return CHECKOUT_PATH_RE.exec(pathname)?.[1] ?? null;
}

export function isUid(value: unknown): value is string {
  return typeof value === 'string' && UID_RE.test(value);
}

/**
 * A malformed UID names no invoice, so it gets the same answer as an unknown one: the
 * caller learns nothing about the format from the refusal.
 */
export function assertUid(value: unknown): string {
  if (!isUid(value)) throw new AppError('INVOICE_NOT_FOUND');
  return value;
}

/** An invoice's number (`id`): how traders name invoices, since the UID is the payer's secret. */
export const INVOICE_ID_RE = /^[1-9][0-9]{0,15}$/;

export function isInvoiceId(value: unknown): value is string {
  return typeof value === 'string' && INVOICE_ID_RE.test(value);
}

/**
 * API tokens: a prefix naming whose they are, then 256 random bits in base64url. Stored
 * only as a hash; the prefix lets a person (and secret scanners) tell them apart.
 */
export const TOKEN_PREFIXES = { merchant: 'nlm', trader: 'nlt', admin: 'nla' } as const;
export type TokenOwner = keyof typeof TOKEN_PREFIXES;
/**
 * A sandbox merchant's token says so (`nlm_test_…`), so a test key pasted into production
 * settings is caught by eye or by a scanner. What makes a merchant sandbox is its record,
 * not the prefix.
 */
export const SANDBOX_TOKEN_PREFIX = `${TOKEN_PREFIXES.merchant}_test`;
/** Every prefix a token can start with, the sandbox's (the longer) first. */
export const TOKEN_PREFIX_LIST: readonly string[] = [SANDBOX_TOKEN_PREFIX, ...Object.values(TOKEN_PREFIXES)];
export const TOKEN_RE = new RegExp(`^(?:${TOKEN_PREFIX_LIST.join('|')})_[A-Za-z0-9_-]{43}$`);
/** Longer than any token we issue; anything longer is refused before hashing. */
export const MAX_TOKEN_LENGTH = 200;

/** Limits on the free text people type; the server, SDK and pages share them. */
export const LIMITS = {
  titleChars: 255,
  reasonChars: 500,
  logChars: 500,
  photoUrlChars: 2048,
  returnUrlChars: 2048,
  webhookUrlChars: 2048,
  accountNameChars: 200,
  /** A saved card's label ("mono black", "PrivatBank salary"). */
  cardLabelChars: 60,
  /** Cards one trader may keep saved. */
  savedCardsPerTrader: 20,
  /** A receipt photo upload, before re-encoding. */
  photoBytes: 10 * 1024 * 1024,
  /** A console user's password, in characters (code points). */
  passwordMinChars: 10,
  /** Longer gains nothing and would let a request make the server hash megabytes. */
  passwordMaxChars: 256,
} as const;

/**
 * C0 controls (NUL above all: PostgreSQL refuses it in text), DEL and C1 controls. None of
 * them belongs in a title, a reason or a history line, and each one shown to an
 * administrator could hide or reorder what was written.
 */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacters(text: string): boolean {
  return CONTROL_RE.test(text);
}

export interface TextRule {
  /** The field name as the caller sent it, used in the error message. */
  field: string;
  max: number;
  /** Whether an empty or missing value is an error (otherwise it becomes null). */
  required?: boolean;
}

/**
 * Validates one free-text field: a string, trimmed, within `max` characters, without
 * control characters. Returns null for an optional field left empty.
 */
export function cleanText(value: unknown, rule: TextRule & { required: true }): string;
export function cleanText(value: unknown, rule: TextRule): string | null;
export function cleanText(value: unknown, rule: TextRule): string | null {
  if (value === undefined || value === null || value === '') {
    if (rule.required) throw new AppError('VALIDATION_FAILED', `${rule.field} is required`);
    return null;
  }
  if (typeof value !== 'string') throw new AppError('VALIDATION_FAILED', `${rule.field} must be a string`, { param: rule.field });
  if (hasControlCharacters(value)) {
    throw new AppError('VALIDATION_FAILED', `${rule.field} must not contain control characters`, { param: rule.field });
  }
  const text = value.trim();
  if (text.length === 0) {
    if (rule.required) throw new AppError('VALIDATION_FAILED', `${rule.field} is required`, { param: rule.field });
    return null;
  }
  if (text.length > rule.max) {
    throw new AppError('VALIDATION_FAILED', `${rule.field} must be at most ${rule.max} characters`, { param: rule.field });
  }
  return text;
}

/** An absolute http(s) URL without control characters, e.g. a receipt photo hosted by a merchant. */
export function cleanHttpUrl(value: unknown, rule: TextRule & { required: true }): string;
export function cleanHttpUrl(value: unknown, rule: TextRule): string | null;
export function cleanHttpUrl(value: unknown, rule: TextRule): string | null {
  const text = cleanText(value, rule);
  if (text === null) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('VALIDATION_FAILED', `${rule.field} must be an http(s) URL`, { param: rule.field });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AppError('VALIDATION_FAILED', `${rule.field} must be an http(s) URL`, { param: rule.field });
  }
  return text;
}

/**
 * A merchant's `metadata`: an object of up to 50 string values under keys of up to 40
 * characters (values up to 500), no control characters. Returns a plain copy.
 */
export function cleanMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('VALIDATION_FAILED', 'metadata must be an object of string values', { param: 'metadata' });
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 50) throw new AppError('VALIDATION_FAILED', 'metadata may have at most 50 keys', { param: 'metadata' });
  const out: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > 40 || hasControlCharacters(key)) {
      throw new AppError('VALIDATION_FAILED', 'metadata keys must be 1 to 40 characters without control characters', { param: 'metadata' });
    }
    if (typeof v !== 'string' || v.length > 500 || hasControlCharacters(v)) {
      throw new AppError('VALIDATION_FAILED', `metadata.${key} must be a string of at most 500 characters without control characters`, {
        param: `metadata.${key}`,
      });
    }
    out[key] = v;
  }
  return out;
}

/** rot13 on ASCII letters only, as the key endpoint encodes its PEM (protocol §3). */
export function rot13(text: string): string {
  return text.replace(/[a-z]/gi, (c) => {
    const base = c <= 'Z' ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
}

/** Legacy clients add this to every request object before encrypting it (protocol §4). */
export const VERIFICATION_WORD = 'bandasosamba';
