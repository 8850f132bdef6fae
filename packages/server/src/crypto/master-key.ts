import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The master key encrypts merchants' RSA private keys at rest (AES-256-GCM), so a copy of
 * the database alone does not reveal them.
 */
export class MasterKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('The master key must be 32 bytes');
    this.#key = key;
  }

  /** From NLTRADE_MASTER_KEY (64 hex chars or base64 of 32 bytes), else `master.key` in dataDir. */
  static load(configured: string | undefined, dataDir: string): MasterKey {
    if (configured) {
      const key = /^[0-9a-fA-F]{64}$/.test(configured) ? Buffer.from(configured, 'hex') : Buffer.from(configured, 'base64');
      if (key.length !== 32) throw new Error('NLTRADE_MASTER_KEY must be 32 bytes, as 64 hex characters or base64');
      return new MasterKey(key);
    }
    const file = path.join(dataDir, 'master.key');
    fs.mkdirSync(dataDir, { recursive: true });
    try {
      // 'wx' fails if it exists, so two processes starting at once cannot both create keys.
      fs.writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} is not a valid master key file`);
    return new MasterKey(Buffer.from(text, 'hex'));
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  decrypt(blob: string, context: string): string {
    const raw = Buffer.from(blob, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
