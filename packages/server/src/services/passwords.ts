import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { AppError, LIMITS } from '@nltrade/core';

export interface ScryptCost {
  /** log2 of N, the CPU and memory cost. */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/**
 * OWASP's scrypt row for 32 MiB (N=2^15, r=8, p=3): each hash takes a few hundred
 * milliseconds of one libuv thread. Hashes name their own cost, so raising it later leaves
 * older hashes verifiable (and they are rehashed at the next sign-in).
 */
export const DEFAULT_COST: ScryptCost = { ln: 15, r: 8, p: 3 };

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const HASH_RE = /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([\w-]{16,64})\$([\w-]{16,128})$/;

/** A password is refused before hashing when it is too short or too long; the message says which. */
export function checkPassword(password: unknown): string {
  if (typeof password !== 'string') throw new AppError('VALIDATION_FAILED', 'password must be a string', { param: 'password' });
  const chars = [...password].length;
  if (chars < LIMITS.passwordMinChars) {
    throw new AppError('VALIDATION_FAILED', `password must be at least ${LIMITS.passwordMinChars} characters`, { param: 'password' });
  }
  if (chars > LIMITS.passwordMaxChars) {
    throw new AppError('VALIDATION_FAILED', `password must be at most ${LIMITS.passwordMaxChars} characters`, { param: 'password' });
  }
  return password;
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.ln;
  return new Promise((resolve, reject) => {
    // Node refuses anything above `maxmem` (32 MiB by default), and 128·N·r is exactly that at N=2^15.
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export interface PasswordHasherOptions {
  cost?: ScryptCost;
  /** Hashes computed at once; each holds a libuv thread (4 by default), which file and DNS work share. */
  concurrency?: number;
  /** Sign-ins waiting for a hashing slot; beyond it they get 503 UNAVAILABLE. */
  queue?: number;
}

/**
 * scrypt hashing with a bound on the work: at most `concurrency` hashes run on the libuv
 * pool and at most `queue` wait, so a flood of sign-ins costs bounded CPU and memory and
 * never takes every pool thread from the rest of the server.
 */
export class PasswordHasher {
  readonly cost: ScryptCost;
  readonly #concurrency: number;
  readonly #queueMax: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: PasswordHasherOptions = {}) {
    this.cost = options.cost ?? DEFAULT_COST;
    this.#concurrency = options.concurrency ?? 2;
    this.#queueMax = options.queue ?? 32;
  }

  /** True while every slot is busy and the queue is full: new work would be refused. */
  get saturated(): boolean {
    return this.#running >= this.#concurrency && this.#waiting.length >= this.#queueMax;
  }

  /** A new hash of `password` (which the caller has checked with `checkPassword`). */
  async hash(password: string): Promise<string> {
    return this.#limited(() => this.#hash(password));
  }

  /**
   * Whether `password` matches `stored`. With `stored` null (no such user) the same work is
   * done against nothing, so the answer takes as long either way. `stale` says the hash was
   * made with another cost and should be replaced.
   */
  async verify(password: string, stored: string | null): Promise<{ ok: boolean; stale: boolean }> {
    return this.#limited(async () => {
      const m = stored === null ? null : HASH_RE.exec(stored);
      if (!m) {
        await derive(password, randomBytes(SALT_BYTES), this.cost);
        return { ok: false, stale: false };
      }
      const cost = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
      const expected = Buffer.from(m[5] as string, 'base64url');
      const actual = await derive(password, Buffer.from(m[4] as string, 'base64url'), cost);
      const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
      const stale = cost.ln !== this.cost.ln || cost.r !== this.cost.r || cost.p !== this.cost.p;
      return { ok, stale };
    });
  }

  async #hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await derive(password, salt, this.cost);
    const { ln, r, p } = this.cost;
    return `scrypt$ln=${ln},r=${r},p=${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
  }

  async #limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#queueMax) {
        throw new AppError('UNAVAILABLE', 'Too many sign-ins at once; try again in a moment', { retryAfterSeconds: 1 });
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so `#running` never dips while some wait.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
