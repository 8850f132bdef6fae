import { AppError } from './errors.ts';

/**
 * Money is held as integer minor units (kopecks) in a JS number. Amounts are capped far
 * below 2^53 so every value is exact; arithmetic that multiplies or divides goes through
 * BigInt so no intermediate is ever a float.
 */
export const MAX_AMOUNT_MINOR = 100_000_000_000; // 1,000,000,000.00

const AMOUNT_RE = /^(0|[1-9]\d{0,12})(?:\.(\d{1,2}))?$/;
const RATE_RE = /^(0|[1-9]\d{0,8})(?:\.(\d{1,8}))?$/;

/**
 * Parses a decimal amount ("100", "100.5", "100.50") into minor units.
 * Rejects signs, exponents, more than two decimals, zero, and anything over the cap.
 */
export function parseAmount(input: unknown): number {
  let text: string;
  if (typeof input === 'string') text = input.trim();
  else if (typeof input === 'number' && Number.isFinite(input)) text = String(input);
  else throw new AppError('INVALID_AMOUNT', 'The amount must be a decimal string such as "150.00"');
  const m = AMOUNT_RE.exec(text);
  if (!m) throw new AppError('INVALID_AMOUNT', `The amount "${text.slice(0, 40)}" is not a positive decimal with at most two decimals`);
  const minor = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  if (minor <= 0) throw new AppError('INVALID_AMOUNT', 'The amount must be greater than zero');
  if (minor > MAX_AMOUNT_MINOR) throw new AppError('INVALID_AMOUNT', 'The amount is too large');
  return minor;
}

/** "1" for whole amounts (as the original sends `send_value`), otherwise two decimals. */
export function formatAmount(minor: number): string {
  const whole = Math.trunc(minor / 100);
  const cents = minor % 100;
  return cents === 0 ? String(whole) : `${whole}.${String(cents).padStart(2, '0')}`;
}

/** Always two decimals ("0.03"), as the original sends `recive_value`. */
export function formatAmountFixed(minor: number): string {
  const whole = Math.trunc(minor / 100);
  return `${whole}.${String(minor % 100).padStart(2, '0')}`;
}

/** A rate is a positive decimal string with up to 8 decimals, e.g. "41.50". */
export function parseRate(input: string): { units: bigint; scale: bigint; text: string } {
  const text = input.trim();
  const m = RATE_RE.exec(text);
  if (!m) throw new AppError('VALIDATION_FAILED', `The exchange rate "${text.slice(0, 40)}" is not a positive decimal`);
  const frac = m[2] ?? '';
  const units = BigInt(m[1] + frac);
  if (units === 0n) throw new AppError('VALIDATION_FAILED', 'The exchange rate must be greater than zero');
  return { units, scale: 10n ** BigInt(frac.length), text };
}

/**
 * recive = send / rate, in minor units, rounded half up to the cent (the amounts are
 * positive, so half up = half away from zero): 1.00 UAH at 39.81 is 0.02512.. -> 0.03.
 * Computed exactly: send_minor * scale / units, with the remainder deciding the rounding.
 */
export function convertAtRate(sendMinor: number, rate: string): number {
  const { units, scale } = parseRate(rate);
  const numerator = BigInt(sendMinor) * scale;
  const q = numerator / units;
  const r = numerator % units;
  return Number(r * 2n >= units ? q + 1n : q);
}
