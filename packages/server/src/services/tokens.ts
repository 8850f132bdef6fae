import { createHash, randomBytes } from 'node:crypto';
import { MAX_TOKEN_LENGTH, SANDBOX_TOKEN_PREFIX, TOKEN_PREFIXES, TOKEN_RE, type TokenOwner, UID_LENGTH } from '@nltrade/core';

/**
 * Tokens carry 256 bits of randomness, so a single SHA-256 is a sufficient one-way hash:
 * there is nothing to brute-force, and lookups stay an indexed equality.
 */
export function newToken(owner: TokenOwner, options: { sandbox?: boolean } = {}): string {
  const prefix = options.sandbox && owner === 'merchant' ? SANDBOX_TOKEN_PREFIX : TOKEN_PREFIXES[owner];
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** A value that could be a token at all; anything else is refused before it is hashed. */
export function plausibleToken(token: unknown): token is string {
  return typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH && TOKEN_RE.test(token);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const UID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** 30 characters of [a-z0-9], as the original's uid_link; rejection sampling keeps it uniform. */
export function newUid(): string {
  let out = '';
  while (out.length < UID_LENGTH) {
    for (const b of randomBytes(40)) {
      if (b < 252 && out.length < UID_LENGTH) out += UID_ALPHABET[b % 36];
    }
  }
  return out;
}
