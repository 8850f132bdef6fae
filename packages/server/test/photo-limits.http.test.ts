import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { sanitiseImage } from '../src/services/photos.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const IP = '198.51.100.77';
/** A broken bound shows as a request that never ends (an upload queued forever): fail it instead. */
const BOUNDED = { timeout: 30_000 };

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  retryAfter: string | undefined;
}

const png = (width = 20, height = 10) =>
  sharp({ create: { width, height, channels: 3, background: '#0a0' } })
    .png()
    .toBuffer();

/** A PNG whose header claims `width`×`height` and whose pixel data is garbage: only a header reader accepts it. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', randomBytes(64)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A multipart upload over its own connection whose body is sent in two steps, so a test can
 * hold it open mid-body (the server has claimed the invoice and is reading) for as long as
 * it needs.
 */
function heldUpload(url: string, uid: string, file: Buffer, ip = IP) {
  const boundary = `----nltrade${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="receipt"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const half = Math.floor(file.length / 2);
  const req = http.request(`${url}/v1/checkout/${uid}/photo`, {
    method: 'POST',
    agent: false,
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': head.length + file.length + tail.length,
      'x-forwarded-for': ip,
    },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { code?: string; message?: string };
        const retry = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, code: body.code, message: body.message, retryAfter: retry });
      });
    });
    req.once('error', reject);
  });
  req.write(head);
  req.write(file.subarray(0, half));
  return {
    answer,
    finish(): Promise<Answer> {
      req.end(Buffer.concat([file.subarray(half), tail]));
      return answer;
    },
    /** The client hangs up mid-body. */
    abort(): void {
      answer.catch(() => {});
      req.destroy();
    },
  };
}

/** Waits for a state of the server (not for time): fails if it is not reached within `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not reached within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A job that holds a decoder (or a place in the queue) until released. */
function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { job: () => opened, open: () => open() };
}

for (const kind of await dbKinds()) {
  describeOn(kind, `receipt photo limits (${kind})`, () => {
    let l: Live;
    let trader: { id: string; token: string };
    before(async () => {
      // One decoder and one place in the queue, so a test fills the pool with two jobs.
      l = await live(kind, undefined, { photoDecodeThreads: 1, photoDecodeQueue: 1 });
      trader = await l.account('trader');
    });
    after(() => l.close());

    async function waitPhoto(): Promise<string> {
      const uid = await l.invoice('99.9');
      await l.ts.system.invoices.bindIp(uid, IP);
      const s = l.ts.system.invoices;
      const t = { type: 'trader', id: trader.id } as const;
      await s.act(uid, 'accept', t);
      await s.act(uid, 'setCard', t, { card: '5555555555554444' });
      await s.act(uid, 'paid', { type: 'payer', id: IP });
      await s.act(uid, 'dispute', t);
      return uid;
    }

    async function upload(uid: string, file: Buffer, ip = IP): Promise<Answer> {
      const form = new FormData();
      form.append('photo', new Blob([new Uint8Array(file)]), 'receipt');
      const res = await fetch(`${l.url}/v1/checkout/${uid}/photo`, { method: 'POST', headers: { 'x-forwarded-for': ip }, body: form });
      const body = (await res.json()) as { code?: string; message?: string };
      return { status: res.status, code: body.code, message: body.message, retryAfter: res.headers.get('retry-after') ?? undefined };
    }

    const photosDir = () => path.join(l.ts.dataDir, 'photos');
    const files = () => (fs.existsSync(photosDir()) ? fs.readdirSync(photosDir()).sort() : []);
    const rowsOf = (uid: string) => l.ts.system.storage.db.selectFrom('photos').select('id').where('invoice_uid', '=', uid).execute();
    const photos = () => l.ts.system.photos;

    test('while an upload to an invoice is being read, others to it get UPLOAD_IN_PROGRESS and store nothing', BOUNDED, async () => {
      const uid = await waitPhoto();
      const filesBefore = files();
      const first = heldUpload(l.url, uid, await png(400, 300));
      await until('the first upload has claimed the invoice', () => photos().isUploading(uid));
      const others = await Promise.all(Array.from({ length: 11 }, async () => upload(uid, await png())));
      for (const r of others) {
        assert.equal(r.status, 409, JSON.stringify(r));
        assert.equal(r.code, 'UPLOAD_IN_PROGRESS');
      }
      assert.deepEqual(files(), filesBefore, 'the refused uploads left no file');
      const won = await first.finish();
      assert.equal(won.status, 200, JSON.stringify(won));
      const rows = await rowsOf(uid);
      assert.equal(rows.length, 1, 'one photo stored for the invoice');
      assert.deepEqual(
        files().filter((f) => !filesBefore.includes(f)),
        [`${rows[0]?.id}.png`],
      );
      const invoice = await l.ts.system.invoices.get(uid);
      assert.equal(invoice.status, 'notApprove');
      assert.equal(invoice.approvePhoto, `/v1/photos/${rows[0]?.id}`);
      assert.equal(photos().isUploading(uid), false);
    });

    test('twelve uploads to one invoice at once: exactly one is stored, the rest are refused with 409', BOUNDED, async () => {
      const uid = await waitPhoto();
      const filesBefore = files();
      const image = await png(1200, 900);
      const answers = await Promise.all(Array.from({ length: 12 }, () => upload(uid, image)));
      assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers));
      for (const a of answers.filter((x) => x.status !== 200)) {
        assert.equal(a.status, 409);
        // Refused while the winner ran, or after it had moved the invoice on.
        assert.ok(a.code === 'UPLOAD_IN_PROGRESS' || a.code === 'TRANSITION_REFUSED', String(a.code));
      }
      assert.equal((await rowsOf(uid)).length, 1);
      assert.equal(files().length, filesBefore.length + 1);
    });

    test(
      'a photo over the pixel cap is refused from its first bytes, never decoded; a 12-megapixel phone photo fits',
      BOUNDED,
      async () => {
        const uid = await waitPhoto();
        // Garbage pixel data behind the header: had it been decoded, the answer would be "could not be decoded".
        const claimed = await upload(uid, pngClaiming(100_000, 100_000));
        assert.equal(claimed.status, 400);
        assert.equal(claimed.code, 'VALIDATION_FAILED');
        assert.match(String(claimed.message), /100000×100000 pixels \(10000 megapixels\); at most 40 megapixels/);
        // Judged from its first bytes, before the rest is read: a file one byte over the size
        // limit, which read in full would get 413, gets the pixel refusal instead.
        const head = pngClaiming(100_000, 100_000);
        const overSized = Buffer.concat([head, Buffer.alloc(10 * 1024 * 1024 + 1 - head.length)]);
        const early = await upload(uid, overSized);
        assert.equal(early.status, 400, JSON.stringify(early));
        assert.match(String(early.message), /100000×100000 pixels/);
        // A real 48-megapixel photo (what some phones take at full resolution), highly compressible.
        const big = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#fff' } })
          .jpeg()
          .toBuffer();
        const refused = await upload(uid, big);
        assert.equal(refused.status, 400);
        assert.match(String(refused.message), /8000×6000 pixels \(48 megapixels\)/);
        assert.equal((await l.ts.system.invoices.get(uid)).status, 'waitPhoto');
        assert.equal((await rowsOf(uid)).length, 0);

        // A 12-megapixel portrait phone photo (4032×3024, EXIF orientation 6) is accepted and turned upright.
        const phone = await sharp({ create: { width: 4032, height: 3024, channels: 3, background: '#eee' } })
          .jpeg()
          .withMetadata({ orientation: 6 })
          .toBuffer();
        const ok = await upload(uid, phone);
        assert.equal(ok.status, 200, JSON.stringify(ok));
        const id = (await rowsOf(uid))[0]?.id;
        const meta = await sharp(path.join(photosDir(), `${id}.jpg`)).metadata();
        assert.deepEqual([meta.width, meta.height, meta.orientation], [3024, 4032, undefined]);
      },
    );

    test('libvips enforces the pixel cap too, should a header and its image ever disagree', BOUNDED, async () => {
      await assert.rejects(sanitiseImage(await png(1001, 1000), 1_000_000), { code: 'VALIDATION_FAILED' });
      assert.equal((await sanitiseImage(await png(1000, 1000), 1_000_000)).format, 'png');
    });

    test('beyond the decode queue an upload gets 503 with Retry-After, before or after its body is read', BOUNDED, async () => {
      const uid = await waitPhoto();
      const running = gate();
      const waiting = gate();
      const jobs = [photos().decoder.run(running.job), photos().decoder.run(waiting.job)];
      try {
        assert.deepEqual(photos().decodeStats(), { running: 1, queued: 1, threads: 1 });
        // Full when it arrives: refused without reading the body.
        const early = await upload(uid, await png());
        assert.equal(early.status, 503, JSON.stringify(early));
        assert.equal(early.code, 'UNAVAILABLE');
        assert.match(String(early.retryAfter), /^[1-9][0-9]*$/);
        assert.equal(photos().isUploading(uid), false, 'the claim is released');
        assert.equal((await l.ts.system.invoices.get(uid)).status, 'waitPhoto');
      } finally {
        running.open();
        waiting.open();
        await Promise.all(jobs);
      }
      assert.deepEqual(photos().decodeStats(), { running: 0, queued: 0, threads: 1 });

      // Room when it arrives, full by the time its body has been read: refused then.
      const held = heldUpload(l.url, uid, await png(300, 200));
      await until('the upload has claimed the invoice', () => photos().isUploading(uid));
      const again = [gate(), gate()];
      const jobs2 = again.map((g) => photos().decoder.run(g.job));
      try {
        const late = await held.finish();
        assert.equal(late.status, 503, JSON.stringify(late));
        assert.match(String(late.retryAfter), /^[1-9][0-9]*$/);
      } finally {
        for (const g of again) g.open();
        await Promise.all(jobs2);
      }
      assert.deepEqual(
        files().filter((f) => f.endsWith('.tmp')),
        [],
      );
      assert.equal((await rowsOf(uid)).length, 0, 'nothing stored for a refused upload');

      // With a place free in the queue, an upload waits for the decoder instead.
      const busy = gate();
      const job = photos().decoder.run(busy.job);
      const queued = upload(uid, await png());
      await until('the upload waits in the queue', () => photos().decodeStats().queued === 1);
      busy.open();
      await job;
      assert.equal((await queued).status, 200);
    });

    test('the claim is released whatever ends an upload: bad files, too large, a client hanging up', BOUNDED, async () => {
      const uid = await waitPhoto();
      const refusals: [Buffer, number][] = [
        [Buffer.from('not an image at all'), 415],
        [Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8]), 400],
        [pngClaiming(50_000, 1_000), 400],
      ];
      for (const [file, status] of refusals) {
        const r = await upload(uid, file);
        assert.equal(r.status, status, JSON.stringify(r));
        assert.equal(photos().isUploading(uid), false);
      }
      const tooBig = Buffer.alloc(10 * 1024 * 1024 + 1);
      tooBig.set([0xff, 0xd8, 0xff]);
      assert.equal((await upload(uid, tooBig)).status, 413);
      assert.equal(photos().isUploading(uid), false);
      // Wrong IP: refused before any claim, so it cannot block the payer.
      assert.equal((await upload(uid, await png(), '203.0.113.9')).code, 'IP_MISMATCH');

      // The client hangs up mid-body.
      const cut = heldUpload(l.url, uid, await png(400, 300));
      await until('the upload has claimed the invoice', () => photos().isUploading(uid));
      cut.abort();
      await until('the claim of the abandoned upload is released', () => !photos().isUploading(uid));

      // The client hangs up while its photo waits for a decoder: it leaves the queue unrun.
      const busy = gate();
      const job = photos().decoder.run(busy.job);
      const waiting = heldUpload(l.url, uid, await png(400, 300));
      await until('the upload has claimed the invoice', () => photos().isUploading(uid));
      void waiting.finish().catch(() => {});
      await until('the upload waits in the queue', () => photos().decodeStats().queued === 1);
      waiting.abort();
      await until('the abandoned upload has left the queue', () => photos().decodeStats().queued === 0 && !photos().isUploading(uid));
      busy.open();
      await job;

      assert.equal((await rowsOf(uid)).length, 0);
      const ok = await upload(uid, await png());
      assert.equal(ok.status, 200, JSON.stringify(ok));
      assert.equal((await call(l.url, 'GET', `/v1/checkout/${uid}`, { ip: IP })).body.status, 'notApprove');
    });
  });
}
