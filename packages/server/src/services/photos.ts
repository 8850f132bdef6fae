import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Actor, AppError, LIMITS } from '@nltrade/core';
import type { Kysely } from 'kysely';
import sharp from 'sharp';
import type { Clock } from '../clock.ts';
import type { Database } from '../storage/schema.ts';
import type { Invoice, InvoiceService } from './invoices.ts';
import type { Principal } from './principal.ts';

export const MAX_PHOTO_BYTES = LIMITS.photoBytes;
/** Decoding a 20000×20000 image takes gigabytes; a receipt photo never needs more than this. */
const MAX_PIXELS = 50_000_000;
const PHOTO_ID_RE = /^[a-f0-9]{32}$/;
/** The path of a receipt photo this server stores, in whatever URL names it. */
const PHOTO_PATH_RE = /^\/v1\/photos\/([a-f0-9]{32})$/;

export type PhotoFormat = 'jpeg' | 'png' | 'webp';
const MIME: Readonly<Record<PhotoFormat, string>> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };
const EXT: Readonly<Record<PhotoFormat, string>> = { jpeg: 'jpg', png: 'png', webp: 'webp' };

/** The format by content alone: the client's file name and Content-Type are not believed. */
export function detectFormat(data: Buffer): PhotoFormat | null {
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 8 && data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

/**
 * Decodes and re-encodes the image. Re-encoding is what strips EXIF/GPS/XMP/ICC: sharp writes
 * no metadata unless asked to. `.rotate()` first bakes the EXIF orientation into the pixels,
 * which would otherwise be lost with the metadata.
 */
export async function sanitiseImage(data: Buffer): Promise<{ data: Buffer; format: PhotoFormat }> {
  const format = detectFormat(data);
  if (!format) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The photo must be a JPEG, PNG or WebP image');
  let out: Buffer;
  try {
    const image = sharp(data, { failOn: 'error', limitInputPixels: MAX_PIXELS }).rotate();
    out =
      format === 'jpeg'
        ? await image.jpeg({ quality: 85, mozjpeg: true }).toBuffer()
        : format === 'png'
          ? await image.png({ compressionLevel: 9 }).toBuffer()
          : await image.webp({ quality: 85 }).toBuffer();
  } catch {
    throw new AppError('VALIDATION_FAILED', `The photo could not be decoded as a ${format.toUpperCase()} image`);
  }
  return { data: out, format };
}

export interface StoredPhoto {
  readonly file: string;
  readonly mime: string;
  readonly bytes: number;
  readonly invoice: Invoice;
}

/** Proof photos: sanitised, stored under DATA_DIR/photos, attached to the invoice by its transition. */
export class PhotoService {
  readonly #db: Kysely<Database>;
  readonly #invoices: InvoiceService;
  readonly #clock: Clock;
  readonly #dir: string;
  readonly #publicUrl: string;

  constructor(db: Kysely<Database>, invoices: InvoiceService, clock: Clock, dataDir: string, publicUrl: string | undefined) {
    this.#db = db;
    this.#invoices = invoices;
    this.#clock = clock;
    this.#dir = path.join(dataDir, 'photos');
    this.#publicUrl = (publicUrl ?? '').replace(/\/+$/, '');
  }

  /**
   * The payer's receipt upload: refuses a wrong IP or status before `read` pulls up to
   * 10 MB off the wire, then stores the photo and moves the invoice on.
   */
  async upload(uid: string, payer: Actor, read: () => Promise<Buffer>): Promise<Invoice> {
    const invoice = await this.#invoices.get(uid);
    this.#invoices.precheck(invoice, 'proofPhoto', payer);
    return this.attach(invoice, payer, await read());
  }

  /**
   * Stores the payer's proof photo and moves the invoice on (`waitPhoto` → `notApprove`).
   * The transition is checked again by the compare-and-set, and the file removed if the
   * invoice moved in between.
   */
  async attach(invoice: Invoice, actor: Actor, upload: Buffer): Promise<Invoice> {
    const { data, format } = await sanitiseImage(upload);
    const id = randomBytes(16).toString('hex');
    const file = path.join(this.#dir, `${id}.${EXT[format]}`);
    await fs.promises.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp`;
    await fs.promises.writeFile(tmp, data, { mode: 0o600 });
    await fs.promises.rename(tmp, file);
    try {
      await this.#db
        .insertInto('photos')
        .values({ id, invoice_uid: invoice.uid, mime: MIME[format], bytes: data.length, created_at: this.#clock.now() })
        .execute();
      return await this.#invoices.act(invoice.uid, 'proofPhoto', actor, { photoUrl: `${this.#publicUrl}/v1/photos/${id}` });
    } catch (err) {
      await this.#db
        .deleteFrom('photos')
        .where('id', '=', id)
        .execute()
        .catch(() => {});
      await fs.promises.rm(file, { force: true });
      throw err;
    }
  }

  /**
   * Deletes photo files (and rows) that no invoice points to: left behind when a process
   * died between writing the file and the status change. Only files older than `minAgeMs`
   * are looked at, so an upload in progress in another process is never touched.
   */
  async removeOrphans(minAgeMs = 60 * 60 * 1000): Promise<number> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const cutoff = this.#clock.now() - minAgeMs;
    let removed = 0;
    for (const name of names) {
      const m = /^([a-f0-9]{32})\.(jpg|png|webp)(\.tmp)?$/.exec(name);
      if (!m) continue;
      const file = path.join(this.#dir, name);
      const stat = await fs.promises.stat(file).catch(() => null);
      if (!stat || stat.mtimeMs > cutoff) continue;
      const id = m[1] as string;
      const row = await this.#db.selectFrom('photos').select('invoice_uid').where('id', '=', id).executeTakeFirst();
      const invoice = row ? await this.#invoices.findByUid(row.invoice_uid) : undefined;
      if (!m[3] && invoice?.approvePhoto?.endsWith(`/v1/photos/${id}`)) continue;
      await this.#db.deleteFrom('photos').where('id', '=', id).execute();
      await fs.promises.rm(file, { force: true });
      removed++;
    }
    return removed;
  }

  /** The id in a URL of the form `…/v1/photos/<id>`, or null. */
  #photoIdIn(url: string): { id: string; local: boolean } | null {
    let parsed: URL;
    try {
      parsed = new URL(url, 'http://relative.invalid');
    } catch {
      return null;
    }
    const m = PHOTO_PATH_RE.exec(parsed.pathname);
    if (!m?.[1]) return null;
    const local = parsed.host === 'relative.invalid' || (this.#publicUrl !== '' && url.startsWith(`${this.#publicUrl}/`));
    return { id: m[1], local };
  }

  /**
   * A payer's `approve_photo` that names a receipt photo of this server must be a photo of
   * the same invoice: evidence uploaded for one invoice proves nothing about another. URLs
   * elsewhere stay allowed (the protocol lets the merchant host the photo).
   */
  async assertUsableFor(invoiceUid: string, url: string): Promise<void> {
    const ref = this.#photoIdIn(url);
    if (!ref) return;
    const row = await this.#db.selectFrom('photos').select('invoice_uid').where('id', '=', ref.id).executeTakeFirst();
    if (row && row.invoice_uid !== invoiceUid) {
      throw new AppError('VALIDATION_FAILED', 'approve_photo names a receipt photo of another invoice', { param: 'approve_photo' });
    }
    if (!row && ref.local) {
      throw new AppError('VALIDATION_FAILED', 'approve_photo names a receipt photo this server does not have', { param: 'approve_photo' });
    }
  }

  /** For each given invoice: whether its approve_photo is a photo this server stored for it. */
  async hosted(invoices: readonly Invoice[]): Promise<Map<string, boolean>> {
    const result = new Map<string, boolean>();
    const wanted = new Map<string, Invoice>();
    for (const invoice of invoices) {
      result.set(invoice.id, false);
      const ref = invoice.approvePhoto === null ? null : this.#photoIdIn(invoice.approvePhoto);
      if (ref?.local) wanted.set(ref.id, invoice);
    }
    if (wanted.size === 0) return result;
    const rows = await this.#db
      .selectFrom('photos')
      .select(['id', 'invoice_uid'])
      .where('id', 'in', [...wanted.keys()])
      .execute();
    for (const row of rows) {
      const invoice = wanted.get(row.id);
      if (invoice && invoice.uid === row.invoice_uid) result.set(invoice.id, true);
    }
    return result;
  }

  /**
   * The photo, for those who may see it: the invoice's merchant, the trader who holds it and
   * administrators. Anyone else gets NOT_FOUND, as for a missing photo: whether it exists is
   * not theirs to learn.
   */
  async openFor(principal: Principal, id: unknown): Promise<StoredPhoto> {
    const photo = await this.find(id);
    const inv = photo.invoice;
    const allowed =
      principal.kind === 'merchant'
        ? principal.merchant.id === inv.merchantId
        : principal.account.role === 'admin' || principal.account.id === inv.traderId;
    if (!allowed) throw new AppError('NOT_FOUND');
    return photo;
  }

  /** The stored file, or NOT_FOUND (also for an unknown or malformed id). */
  async find(id: unknown): Promise<StoredPhoto> {
    if (typeof id !== 'string' || !PHOTO_ID_RE.test(id)) throw new AppError('NOT_FOUND');
    const row = await this.#db.selectFrom('photos').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND');
    const format = (Object.keys(MIME) as PhotoFormat[]).find((f) => MIME[f] === row.mime);
    if (!format) throw new AppError('NOT_FOUND');
    const invoice = await this.#invoices.get(row.invoice_uid);
    const file = path.join(this.#dir, `${id}.${EXT[format]}`);
    // The row without its file (lost storage, a restore of the database alone) is a missing photo, not a crash.
    const stat = await fs.promises.stat(file).catch(() => null);
    if (!stat?.isFile()) throw new AppError('NOT_FOUND', 'The photo file is missing');
    return { file, mime: row.mime, bytes: stat.size, invoice };
  }
}
