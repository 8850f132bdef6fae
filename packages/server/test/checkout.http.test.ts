import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { CheckoutView } from '../src/views.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const IP = '198.51.100.40';

function form(data: Uint8Array, name: string, type: string, field = 'photo'): FormData {
  const f = new FormData();
  f.append(field, new Blob([new Uint8Array(data)], { type }), name);
  return f;
}

const png = () =>
  sharp({ create: { width: 20, height: 10, channels: 4, background: '#0a0' } })
    .png()
    .toBuffer();

for (const kind of await dbKinds()) {
  describeOn(kind, `checkout API and proof photos (${kind})`, () => {
    let l: Live;
    let trader: { id: string; token: string };
    before(async () => {
      l = await live(kind);
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

    const upload = (uid: string, body: FormData, ip = IP) =>
      call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/photo`, { ip, form: body });

    test('the public view has exactly the fields the page relies on, and no account ids', async () => {
      const uid = await l.invoice('1500.5');
      const r = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: IP });
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.body).sort(), [
        'amount',
        'boundTo',
        'card',
        'currency',
        'deadlineAt',
        'ip',
        'paymentTimeoutSeconds',
        'photoUploaded',
        'previousAmount',
        'resolution',
        'returnUrl',
        'sandbox',
        'serverTime',
        'status',
        'statusLabel',
        'title',
        'uid',
        'version',
        'viewerIp',
      ]);
      assert.equal(r.body.amount, '1500.50');
      assert.equal(r.body.paymentTimeoutSeconds, 960);
      assert.equal(r.body.version, 1);
      assert.equal(r.body.deadlineAt, null, 'the accept timer is not the payer’s business');
      assert.ok(Number.isFinite(Date.parse(r.body.serverTime)));
      const missing = await call(l.url, 'GET', `/v1/checkout/${'q'.repeat(30)}`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.code, 'INVOICE_NOT_FOUND');
      // A malformed UID is an unknown invoice, not a lesson in the format.
      for (const bad of ['abc', 'A'.repeat(30), '1', `${uid}0`, 'a'.repeat(65), 'a'.repeat(101), 'a'.repeat(2000)]) {
        const r = await call(l.url, 'GET', `/v1/checkout/${bad}`);
        assert.equal(r.status, 404, bad);
        assert.deepEqual(r.body, { status: false, code: 'INVOICE_NOT_FOUND', message: 'Invoice not found' });
      }
      // A path segment longer than the router takes still gets a JSON 404, never a 500.
      const huge = await call(l.url, 'GET', `/v1/checkout/${'a'.repeat(3000)}`);
      assert.equal(huge.status, 404);
      assert.equal(huge.body.code, 'NOT_FOUND');
      // Invoice numbers are sequential: the payer's side never takes them.
      const id = (await l.ts.system.invoices.get(uid)).id;
      assert.equal((await call(l.url, 'GET', `/v1/checkout/${id}`)).status, 404);
    });

    test('the bound IP is shown only to itself; others learn only that someone holds the invoice', async () => {
      const uid = await l.invoice('20');
      const before = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: IP });
      assert.equal(before.body.ip, null);
      assert.equal(before.body.boundTo, 'nobody');
      await l.ts.system.invoices.bindIp(uid, IP);
      const own = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: IP });
      assert.equal(own.body.ip, IP);
      assert.equal(own.body.boundTo, 'you');
      const other = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: '203.0.113.99' });
      assert.equal(other.body.ip, null);
      assert.equal(other.body.boundTo, 'another');
      assert.ok(!JSON.stringify(other.body).includes(IP));
    });

    test('approve_photo naming a photo of this server must be of the same invoice; outside URLs stay allowed', async () => {
      const first = await waitPhoto();
      assert.equal((await upload(first, form(await png(), 'r.png', 'image/png'))).status, 200);
      const ours = (await l.ts.system.invoices.get(first)).approvePhoto ?? '';
      assert.match(ours, /^\/v1\/photos\/[a-f0-9]{32}$/);
      const photos = l.ts.system.photos;
      const second = await waitPhoto();
      // Another invoice's receipt, however its URL is written.
      const id = ours.slice('/v1/photos/'.length);
      const escaped = `/v1/photos/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`;
      const spellings = [
        ours,
        `http://127.0.0.1:1${ours}`,
        `https://gateway.example${ours}?x=1`,
        // The router decodes percent-escapes, so these name the same photo.
        `${l.url}/v1/%70hotos/${id}`,
        `${l.url}${escaped}`,
        `https://gateway.example/nltrade${ours.toUpperCase().replace('/V1/PHOTOS/', '/v1/photos/')}`,
      ];
      const adminForFetch = await l.account('admin', 'photo spelling admin');
      for (const path of [`/v1/%70hotos/${id}`, escaped]) {
        const served = await fetch(`${l.url}${path}`, { headers: { authorization: `Bearer ${adminForFetch.token}` } });
        assert.equal(served.status, 200, `${path} is served as the photo`);
      }
      for (const url of spellings) {
        await assert.rejects(photos.assertUsableFor(second, url), { code: 'VALIDATION_FAILED', message: /another invoice/ });
      }
      // A photo id this server never stored, on this server.
      await assert.rejects(photos.assertUsableFor(second, `/v1/photos/${'e'.repeat(32)}`), { code: 'VALIDATION_FAILED' });
      await photos.assertUsableFor(first, ours);
      await photos.assertUsableFor(second, 'https://shop.example/receipts/1.jpg');
      await photos.assertUsableFor(second, `https://shop.example/v1/photos/${'e'.repeat(32)}`);

      const admin = await l.account('admin', 'photo admin');
      const view = await call<{ approvePhotoHosted: boolean }>(l.url, 'GET', `/v1/admin/invoices/${first}`, { token: admin.token });
      assert.equal(view.body.approvePhotoHosted, true);
      await l.ts.system.invoices.act(second, 'proofPhoto', { type: 'payer', id: IP }, { photoUrl: 'https://shop.example/r.jpg' });
      const outside = await call<{ approvePhotoHosted: boolean }>(l.url, 'GET', `/v1/admin/invoices/${second}`, { token: admin.token });
      assert.equal(outside.body.approvePhotoHosted, false);
      const list = await call<{ invoices: { uid: string; approvePhotoHosted: boolean }[] }>(
        l.url,
        'GET',
        '/v1/admin/invoices?status=notApprove&limit=200',
        { token: admin.token },
      );
      assert.equal(list.body.invoices.find((i) => i.uid === first)?.approvePhotoHosted, true);
      assert.equal(list.body.invoices.find((i) => i.uid === second)?.approvePhotoHosted, false);
    });

    test('a receipt photo whose file is missing answers 404, not 500', async () => {
      const uid = await waitPhoto();
      assert.equal((await upload(uid, form(await png(), 'r.png', 'image/png'))).status, 200);
      const url = (await l.ts.system.invoices.get(uid)).approvePhoto ?? '';
      const id = url.split('/').pop() ?? '';
      fs.rmSync(path.join(l.ts.dataDir, 'photos', `${id}.png`));
      const admin = await l.account('admin', 'missing-file admin');
      const res = await fetch(l.url + url, { headers: { authorization: `Bearer ${admin.token}` } });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { code: string }).code, 'NOT_FOUND');
    });

    test('a PNG is accepted, re-encoded, and only its trader, admins and its merchant may open it', async () => {
      const uid = await waitPhoto();
      const r = await upload(uid, form(await png(), 'x.bin', 'application/octet-stream'));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'notApprove');
      const url = (await l.ts.system.invoices.get(uid)).approvePhoto ?? '';
      const id = url.split('/').pop() ?? '';
      assert.ok(fs.existsSync(path.join(l.ts.dataDir, 'photos', `${id}.png`)));

      const other = await l.ts.system.merchants.create('Other shop');
      const stranger = await l.account('trader', 'Stranger');
      const admin = await l.account('admin');
      const get = (token?: string) => fetch(l.url + url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      assert.equal((await get()).status, 401);
      assert.equal((await get(stranger.token)).status, 404);
      assert.equal((await get(other.accessToken)).status, 404);
      for (const token of [trader.token, admin.token, l.merchantToken]) {
        const res = await get(token);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'image/png');
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ['png', 20, 10]);
      }
      assert.equal(
        (await fetch(`${l.url}/v1/photos/../../etc/passwd`, { headers: { authorization: `Bearer ${admin.token}` } })).status,
        404,
      );
      assert.equal(
        (await fetch(`${l.url}/v1/photos/${'0'.repeat(32)}`, { headers: { authorization: `Bearer ${admin.token}` } })).status,
        404,
      );
    });

    test('orphaned photo files (a crash between write and status change) are cleaned up; attached ones stay', async () => {
      const uid = await waitPhoto();
      assert.equal((await upload(uid, form(await png(), 'r.png', 'image/png'))).status, 200);
      const kept = ((await l.ts.system.invoices.get(uid)).approvePhoto ?? '').split('/').pop() ?? '';
      const dir = path.join(l.ts.dataDir, 'photos');
      const orphan = path.join(dir, `${'a'.repeat(32)}.jpg`);
      const halfWritten = path.join(dir, `${'b'.repeat(32)}.png.tmp`);
      const fresh = path.join(dir, `${'c'.repeat(32)}.jpg`);
      for (const f of [orphan, halfWritten, fresh]) fs.writeFileSync(f, 'x');
      const old = new Date(Date.now() - 2 * 3600_000);
      for (const f of [orphan, halfWritten, path.join(dir, `${kept}.png`)]) fs.utimesSync(f, old, old);
      const now = l.ts.system.clock.now();
      assert.ok(Math.abs(now - Date.now()) < 60_000, 'this test needs the system clock');
      assert.equal(await l.ts.system.photos.removeOrphans(), 2);
      assert.ok(!fs.existsSync(orphan));
      assert.ok(!fs.existsSync(halfWritten));
      assert.ok(fs.existsSync(fresh), 'a recent file may be an upload in progress elsewhere');
      assert.ok(fs.existsSync(path.join(dir, `${kept}.png`)), 'the attached photo stays');
      fs.rmSync(fresh);
    });

    test('WebP is accepted too', async () => {
      const uid = await waitPhoto();
      const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00f' } })
        .webp()
        .toBuffer();
      const r = await upload(uid, form(webp, 'p.webp', 'image/webp'));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    });

    test('a file that is not an image is refused by content, whatever its name and type say', async () => {
      const uid = await waitPhoto();
      const r = await upload(uid, form(new TextEncoder().encode('<svg onload="alert(1)"/> not a jpeg'), 'receipt.jpg', 'image/jpeg'));
      assert.equal(r.status, 415);
      assert.equal(r.body.status as unknown, false);
      assert.match(String((r.body as unknown as { message: string }).message), /JPEG, PNG or WebP/);
      const gif = await upload(uid, form(new TextEncoder().encode('GIF89a......'), 'a.gif', 'image/gif'));
      assert.equal(gif.status, 415);
      // JPEG magic but garbage after it: detected, then refused by the decoder.
      const broken = await upload(uid, form(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8]), 'b.jpg', 'image/jpeg'));
      assert.equal(broken.status, 400);
      assert.equal((broken.body as unknown as { code: string }).code, 'VALIDATION_FAILED');
      const nothing = await call(l.url, 'POST', `/v1/checkout/${uid}/photo`, { ip: IP, json: { photo: 'x' } });
      assert.equal(nothing.status, 415);
      const wrongField = await upload(uid, form(await png(), 'a.png', 'image/png', 'file'));
      assert.equal(wrongField.status, 400);
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'waitPhoto', 'nothing changed');
      assert.deepEqual(
        fs.readdirSync(path.join(l.ts.dataDir, 'photos')).filter((f) => f.endsWith('.tmp')),
        [],
      );
    });

    test('uploads over 10 MB are refused with 413 (declared 20 MB, and a 10 MB + 1 file)', async () => {
      const uid = await waitPhoto();
      const big = new Uint8Array(20 * 1024 * 1024);
      big.set([0xff, 0xd8, 0xff]);
      const r = await upload(uid, form(big, 'big.jpg', 'image/jpeg'));
      assert.equal(r.status, 413);
      assert.equal((r.body as unknown as { code: string }).code, 'PAYLOAD_TOO_LARGE');
      const justOver = new Uint8Array(10 * 1024 * 1024 + 1);
      justOver.set([0xff, 0xd8, 0xff]);
      for (let round = 0; round < 3; round++) {
        const r2 = await upload(uid, form(justOver, 'over.jpg', 'image/jpeg'));
        assert.equal(r2.status, 413, JSON.stringify(r2.body));
        assert.equal((r2.body as unknown as { code: string }).code, 'PAYLOAD_TOO_LARGE');
      }
      // Exactly at the limit the file is read and goes to the decoder (which refuses this garbage).
      const atLimit = new Uint8Array(10 * 1024 * 1024);
      atLimit.set([0xff, 0xd8, 0xff]);
      const r3 = await upload(uid, form(atLimit, 'limit.jpg', 'image/jpeg'));
      assert.equal(r3.status, 400);
      assert.equal((r3.body as unknown as { code: string }).code, 'VALIDATION_FAILED');
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'waitPhoto');
    });

    test('the photo is bound to the invoice IP and its status', async () => {
      const uid = await waitPhoto();
      const wrongIp = await upload(uid, form(await png(), 'a.png', 'image/png'), '203.0.113.1');
      assert.equal(wrongIp.status, 403);
      assert.equal((wrongIp.body as unknown as { code: string }).code, 'IP_MISMATCH');
      const early = await l.invoice();
      await l.ts.system.invoices.bindIp(early, IP);
      const notYet = await upload(early, form(await png(), 'a.png', 'image/png'));
      assert.equal(notYet.status, 409);
      assert.equal((notYet.body as unknown as { code: string }).code, 'TRANSITION_REFUSED');
    });
  });
}
