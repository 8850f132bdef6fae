import { AppError } from './errors.ts';

/** Payment cards that can receive a card-to-card transfer have 16 to 19 digits (ISO/IEC 7812). */
export const CARD_MIN_DIGITS = 16;
export const CARD_MAX_DIGITS = 19;

/**
 * Normalises a card number (spaces and dashes allowed between digits) and checks it: 16 to
 * 19 digits, a valid Luhn check digit, and not one digit repeated (all zeros passes Luhn).
 */
export function parseCard(input: unknown): string {
  if (typeof input !== 'string') throw new AppError('INVALID_CARD', 'The card number must be a string of digits');
  const digits = input.replace(/[ -]/g, '');
  if (!/^\d+$/.test(digits)) throw new AppError('INVALID_CARD', 'The card number may contain only digits, spaces and dashes');
  if (digits.length < CARD_MIN_DIGITS || digits.length > CARD_MAX_DIGITS) {
    throw new AppError('INVALID_CARD', `The card number must have ${CARD_MIN_DIGITS} to ${CARD_MAX_DIGITS} digits`);
  }
  if (/^(\d)\1+$/.test(digits)) throw new AppError('INVALID_CARD', 'The card number cannot be one digit repeated');
  if (!luhnValid(digits)) throw new AppError('INVALID_CARD', 'The card number fails its check digit (Luhn)');
  return digits;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** "4444-3333-2222-1111", the grouping the original uses for `card_f_pay`. */
export function formatCard(digits: string): string {
  return digits.replace(/(.{4})(?=.)/g, '$1-');
}

/** Everyone but the payer and the invoice's trader sees only the first six and last four. */
export function maskCard(digits: string): string {
  if (digits.length < 10) return '*'.repeat(digits.length);
  const masked = digits.slice(0, 6) + '*'.repeat(digits.length - 10) + digits.slice(-4);
  return formatCard(masked);
}
