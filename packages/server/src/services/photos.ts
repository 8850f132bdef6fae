import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Actor, AppError, LIMITS } from '@nltrade/core';
import type { Kysely } from 'kysely';
import sharp, { type Metadata } from 'sharp';
import type { Clock } from '../clock.ts';
import { threadsFor } from '../config.ts';
import type { Database } from '../storage/schema.ts';
import { DecodePool, type DecodeStats } from './image-pool.ts';
import type { Invoice, InvoiceService } from './invoices.ts';
import type { Principal } from './principal.ts';

export const MAX_PHOTO_BYTES = LIMITS.photoBytes;
const PHOTO_ID_RE = /^[a-f0-9]{32}$/;
/** The path of a receipt photo this server stores, in whatever URL names it. */
// Matched against the decoded path, at its end: the router decodes percent-escapes
// (`/v1/%70hotos/…` is served as `/v1/photos/…`) and a proxy may mount us under a prefix.
const PHOTO_PATH_RE = /\/v1\/photos\/([a-f0-9]{32})\/?$/i;
/**
 * A decode that runs longer than this is a hostile file (a JPEG with thousands of
 * progressive scans, say), not a photo: a 40-megapixel WebP takes about 5 s on one core.
 */
const DECODE_TIMEOUT_SECONDS = 60;

// Memory is what a flood of photos exhausts first. libvips' operation cache only helps when
// the same image is processed again, which uploads never are; and each libvips thread of a
// pipeline holds its own buffers, so one thread per image (the pool gives the parallelism)
// keeps a decode at its minimum. Both settings are process-wide; only this file uses sharp.
sharp.cache(false);
sharp.concurrency(1);

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

const undecodable = (format: PhotoFormat) =>
  new AppError('VALIDATION_FAILED', `The photo could not be decoded as a ${format.toUpperCase()} image`, { param: 'photo' });

const megapixels = (pixels: number) => Number((pixels / 1e6).toFixed(1));

const overCap = (width: number, height: number, maxPixels: number) =>
  new AppError(
    'VALIDATION_FAILED',
    `The photo is ${width}×${height} pixels (${megapixels(width * height)} megapixels); at most ${megapixels(maxPixels)} megapixels are accepted`,
    { param: 'photo' },
  );

/** Bytes of an upload read before its size in pixels is judged; a JPEG's EXIF block may take most of them. */
export const HEAD_BYTES = 128 * 1024;

/**
 * The width and height a file's first bytes claim, read by hand: PNG's IHDR, WebP's VP8 /
 * VP8L / VP8X header, JPEG's first SOF marker. Null when the head does not say (a JPEG whose
 * SOF lies further on, a damaged file): the full check on the whole file decides those.
 */
export function claimedSize(head: Buffer): { width: number; height: number } | null {
  const format = detectFormat(head);
  const size = (width: number, height: number) => (width > 0 && height > 0 ? { width, height } : null);
  if (format === 'png') {
    if (head.length < 24 || head.toString('latin1', 12, 16) !== 'IHDR') return null;
    return size(head.readUInt32BE(16), head.readUInt32BE(20));
  }
  if (format === 'webp') {
    if (head.length < 30) return null;
    const chunk = head.toString('latin1', 12, 16);
    if (chunk === 'VP8 ' && head[23] === 0x9d && head[24] === 0x01 && head[25] === 0x2a) {
      return size(head.readUInt16LE(26) & 0x3fff, head.readUInt16LE(28) & 0x3fff);
    }
    if (chunk === 'VP8L' && head[20] === 0x2f) {
      const bits = head.readUInt32LE(21);
      return size((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
    }
    if (chunk === 'VP8X') return size(head.readUIntLE(24, 3) + 1, head.readUIntLE(27, 3) + 1);
    return null;
  }
  if (format === 'jpeg') {
    let at = 2;
    while (at + 4 <= head.length) {
      if (head[at] !== 0xff) return null;
      const marker = head[at + 1] ?? 0;
      if (marker === 0xff) {
        at++;
      } else if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        at += 2;
      } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return at + 9 <= head.length ? size(head.readUInt16BE(at + 7), head.readUInt16BE(at + 5)) : null;
      } else if (marker === 0xda || marker === 0xd9) {
        return null;
      } else {
        at += 2 + head.readUInt16BE(at + 2);
      }
    }
  }
  return null;
}

/**
 * Refuses an upload whose first bytes claim more than `maxPixels`, so the rest of it is
 * never kept: what a flood of huge images then costs is reading bytes off the wire.
 */
export function refuseOversizedHead(head: Buffer, maxPixels: number): void {
  const claimed = claimedSize(head);
  if (claimed && claimed.width * claimed.height > maxPixels) throw overCap(claimed.width, claimed.height, maxPixels);
}

export interface ImageHeader {
  readonly format: PhotoFormat;
  readonly width: number;
  readonly height: number;
}

/**
 * The format and dimensions from the file's header, without decoding a pixel, and the
 * refusal of an image over `maxPixels`: a 10 MB upload can claim 30000×30000, which would
 * take gigabytes to decode.
 */
export async function readHeader(data: Buffer, maxPixels: number): Promise<ImageHeader> {
  const format = detectFormat(data);
  if (!format) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The photo must be a JPEG, PNG or WebP image');
  let meta: Metadata;
  try {
    // No pixel limit here: the check below gives the clearer answer.
    meta = await sharp(data, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch {
    throw undecodable(format);
  }
  const { width, height } = meta;
  if (meta.format !== format || !width || !height) throw undecodable(format);
  if (width * height > maxPixels) throw overCap(width, height, maxPixels);
  return { format, width, height };
}

/**
 * Decodes and re-encodes the image. Re-encoding is what strips EXIF/GPS/XMP/ICC: sharp writes
 * no metadata unless asked to. `.rotate()` first bakes the EXIF orientation into the pixels,
 * which would otherwise be lost with the metadata. `maxPixels` is enforced by libvips as
 * well, in case a header and the image behind it disagree.
 *
 * JPEG is written without optimised Huffman tables (nor mozjpeg, which implies them): those
 * hold every coefficient of the image until the end, about 250 MB for 40 megapixels (300 MB
 * and 7 s with mozjpeg), where baseline coding streams it in about 30 MB and 0.4 s, for files
 * 5–12 % larger. WebP at effort 2 takes half the CPU of the default for some 8 % more bytes.
 */
export async function sanitiseImage(data: Buffer, maxPixels: number): Promise<{ data: Buffer; format: PhotoFormat }> {
  const format = detectFormat(data);
  if (!format) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The photo must be a JPEG, PNG or WebP image');
  let out: Buffer;
  try {
    const image = sharp(data, { failOn: 'error', limitInputPixels: maxPixels }).timeout({ seconds: DECODE_TIMEOUT_SECONDS }).rotate();
    out =
      format === 'jpeg'
        ? await image.jpeg({ quality: 85, optimiseCoding: false }).toBuffer()
        : format === 'png'
          ? await image.png({ compressionLevel: 9 }).toBuffer()
          : await image.webp({ quality: 85, effort: 2 }).toBuffer();
  } catch (err) {
    if (/timeout/i.test(String((err as Error)?.message))) {
      throw new AppError('VALIDATION_FAILED', 'The photo took too long to process', { param: 'photo' });
    }
    throw undecodable(format);
  }
  return { data: out, format };
}

/**
 * Decoders at once. sharp works on libuv's thread pool (UV_THREADPOOL_SIZE, 4 by default),
 * which file writes, static files and DNS lookups share: a decoder holds a thread for the
 * whole image, so one thread is always left to them.
 */
export function decodersFor(configured: number, uvThreads = Number(process.env.UV_THREADPOOL_SIZE) || 4): number {
  return Math.max(1, Math.min(threadsFor(configured), uvThreads - 1));
}

export interface PhotoLimits {
  /** PHOTO_DECODE_THREADS: 0 = one per CPU (and never all of libuv's pool, see `decodersFor`). */
  readonly decodeThreads: number;
  /** PHOTO_DECODE_QUEUE: uploads that may wait for a decoder; one more gets 503 with Retry-After. */
  readonly decodeQueue: number;
  /** PHOTO_MAX_PIXELS: width × height of the largest photo accepted. */
  readonly maxPixels: number;
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
  readonly #maxPixels: number;
  /** The image work of this process; exposed so tests can fill it. */
  readonly decoder: DecodePool;
  /** Invoices with an upload in progress in this process. */
  readonly #uploading = new Set<string>();

  constructor(
    db: Kysely<Database>,
    invoices: InvoiceService,
    clock: Clock,
    dataDir: string,
    publicUrl: string | undefined,
    limits: PhotoLimits,
  ) {
    this.#db = db;
    this.#invoices = invoices;
    this.#clock = clock;
    this.#dir = path.join(dataDir, 'photos');
    this.#publicUrl = (publicUrl ?? '').replace(/\/+$/, '');
    this.#maxPixels = limits.maxPixels;
    // At most the largest photo's worth of pixels decoded at once: several small receipts run
    // side by side, a photo near the cap runs alone.
    this.decoder = new DecodePool({ threads: decodersFor(limits.decodeThreads), queue: limits.decodeQueue, pixelBudget: limits.maxPixels });
  }

  /** The decode pool's load, for metrics. */
  decodeStats(): DecodeStats {
    return this.decoder.stats();
  }

  /** Whether this process has an upload to the invoice in progress (claimed, not yet answered). */
  isUploading(uid: string): boolean {
    return this.#uploading.has(uid);
  }

  /**
   * The payer's receipt upload: refuses a wrong IP or status, then claims the invoice, then
   * lets `read` pull up to 10 MB off the wire (handing `checkHead` the first HEAD_BYTES, to
   * refuse a photo too large in pixels before the rest is kept), then stores the photo and
   * moves the invoice on.
   *
   * One upload per invoice at a time, claimed before the body is read: otherwise a payer
   * could have a dozen bodies of one invoice read and decoded at once, all but one for
   * nothing. The claim lives in this process. Across processes (WORKERS, several servers)
   * the compare-and-set in `attach` still lets exactly one photo through and removes the
   * others' files; what a second process costs is one more decode, on its own bounded pool.
   * A database lease would need a connection held for as long as a client takes to send
   * its body, which is a worse thing to hand a slow client than a decode.
   */
  async upload(
    uid: string,
    payer: Actor,
    read: (checkHead: (head: Buffer) => void) => Promise<Buffer>,
    options: { signal?: AbortSignal } = {},
  ): Promise<Invoice> {
    const invoice = await this.#invoices.get(uid);
    this.#invoices.precheck(invoice, 'proofPhoto', payer);
    if (this.#uploading.has(invoice.uid)) throw new AppError('UPLOAD_IN_PROGRESS');
    this.#uploading.add(invoice.uid);
    try {
      // Refused before reading 10 MB that could not be processed anyway.
      if (this.decoder.saturated) throw this.decoder.busy();
      // A client that hangs up mid-body makes the read fail, which releases the claim below.
      const data = await read((head) => refuseOversizedHead(head, this.#maxPixels));
      return await this.attach(invoice, payer, data, options.signal);
    } finally {
      this.#uploading.delete(invoice.uid);
    }
  }

  /**
   * Stores the payer's proof photo and moves the invoice on (`waitPhoto` → `notApprove`).
   * The header is checked first (format, pixel cap) without a decoder; the decode waits for
   * one. The transition is checked again by the compare-and-set, and the file removed if
   * the invoice moved in between.
   */
  async attach(invoice: Invoice, actor: Actor, upload: Buffer, signal?: AbortSignal): Promise<Invoice> {
    const header = await readHeader(upload, this.#maxPixels);
    const { data, format } = await this.decoder.run(() => sanitiseImage(upload, this.#maxPixels), signal, header.width * header.height);
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
    let path: string;
    try {
      path = decodeURIComponent(parsed.pathname);
    } catch {
      // The router refuses such a path too: it can name no photo here.
      return null;
    }
    const m = PHOTO_PATH_RE.exec(path);
    if (!m?.[1]) return null;
    const local = parsed.host === 'relative.invalid' || (this.#publicUrl !== '' && url.startsWith(`${this.#publicUrl}/`));
    return { id: m[1].toLowerCase(), local };
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
