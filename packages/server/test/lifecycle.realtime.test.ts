import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { ManualClock } from '../src/clock.ts';
import type { CheckoutView } from '../src/views.ts';
import { call, type Live, live } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const CARD = '4111 1111 1111 1111';
const PAYER = '198.51.100.7';

/** A small real JPEG carrying EXIF (a copyright marker and GPS) and a rotate-by-90° orientation. */
async function jpegWithExif(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } })
    .withExif({ IFD0: { Copyright: 'SECRET-EXIF-MARK', Make: 'PhoneCo' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '50/1 27/1 0/1' } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();
}

function photoForm(data: Buffer, name = 'receipt.jpg', type = 'image/jpeg'): FormData {
  const form = new FormData();
  form.append('photo', new Blob([new Uint8Array(data)], { type }), name);
  return form;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `the seed's whole algorithm over sockets and HTTP (${kind})`, () => {
    let l: Live;
    const clock = new ManualClock(Date.now());
    before(async () => {
      l = await live(kind, clock);
    });
    after(() => l.close());

    test('join, ip:send, get, accept, card, pay, change amount, dispute, photo, admin decides success', async () => {
      const uid = await l.invoice('1500.50');
      const trader = await l.account('trader', 'Taras');
      const admin = await l.account('admin', 'Olena');

      // 1. Connect and join; the first IP is recorded and echoed back.
      const payer = await l.connect(PAYER);
      payer.join(uid);
      assert.deepEqual(await payer.next('ip:send'), [PAYER]);
      const [first] = (await payer.next('invoice:update')) as [CheckoutView];
      assert.equal(first.status, 'not approve exchange');
      assert.equal(first.viewerIp, PAYER);
      assert.equal(first.ip, PAYER);
      assert.equal(first.card, null);

      // 3. get
      const got = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: PAYER });
      assert.equal(got.status, 200);
      assert.equal(got.body.amount, '1500.50');
      assert.equal(got.body.currency, 'UAH');
      assert.equal(got.body.viewerIp, PAYER);
      assert.deepEqual(got.body.statusLabel, { uk: 'Заявка ще не прийнята трейдером', en: 'Not yet taken by a trader' });
      let version = got.body.version;

      // Each change: invoce:refetch, then an update with a higher version; refetch by HTTP.
      const expectChange = async (status: string): Promise<CheckoutView> => {
        assert.deepEqual(await payer.next('invoce:refetch'), []);
        const [update] = (await payer.next('invoice:update')) as [CheckoutView];
        assert.ok(update.version > version, `version ${update.version} after ${version}`);
        assert.equal(update.status, status);
        const view = await call<CheckoutView>(l.url, 'GET', `/v1/checkout/${uid}`, { ip: PAYER });
        assert.equal(view.body.status, status);
        assert.equal(view.body.version, update.version);
        version = update.version;
        return view.body;
      };

      const accepted = await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/accept`, { token: trader.token });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      await expectChange('wait card');

      const carded = await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/card`, {
        token: trader.token,
        json: { card: CARD },
      });
      assert.equal(carded.status, 200, JSON.stringify(carded.body));
      assert.equal(carded.body.card, '4111111111111111', 'the trader who set it sees the full card');
      const sendCard = await expectChange('send card');
      assert.equal(sendCard.card, '4111111111111111', 'the payer sees the full card');
      assert.ok(sendCard.deadlineAt && Date.parse(sendCard.deadlineAt) > clock.now());

      const paid = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: PAYER });
      assert.equal(paid.status, 200, JSON.stringify(paid.body));
      const pay1 = await expectChange('pay');
      assert.equal(pay1.amount, '1500.50');

      // Two `pay` reads in a row: the trader changed the amount.
      const changed = await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/amount`, {
        token: trader.token,
        json: { amount: '1450' },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      const pay2 = await expectChange('pay');
      assert.equal(pay2.amount, '1450.00');
      assert.equal(pay2.previousAmount, '1500.50');

      const disputed = await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/dispute`, {
        token: trader.token,
        json: { reason: 'No money arrived' },
      });
      assert.equal(disputed.status, 200, JSON.stringify(disputed.body));
      const waitPhoto = await expectChange('waitPhoto');
      assert.equal(waitPhoto.photoUploaded, false);

      const jpeg = await jpegWithExif();
      assert.ok(jpeg.includes('SECRET-EXIF-MARK'));
      const uploaded = await call<CheckoutView>(l.url, 'POST', `/v1/checkout/${uid}/photo`, { ip: PAYER, form: photoForm(jpeg) });
      assert.equal(uploaded.status, 200, JSON.stringify(uploaded.body));
      assert.equal(uploaded.body.photoUploaded, true);
      await expectChange('notApprove');

      // The stored photo: a decodable JPEG, orientation applied, no EXIF/GPS left.
      const inv = await l.ts.system.invoices.get(uid);
      assert.match(inv.approvePhoto ?? '', /^\/v1\/photos\/[a-f0-9]{32}$/);
      const photoRes = await fetch(l.url + inv.approvePhoto, { headers: { authorization: `Bearer ${admin.token}` } });
      assert.equal(photoRes.status, 200);
      assert.equal(photoRes.headers.get('content-type'), 'image/jpeg');
      const stored = Buffer.from(await photoRes.arrayBuffer());
      assert.ok(!stored.includes('SECRET-EXIF-MARK'));
      assert.ok(!stored.includes('PhoneCo'));
      const meta = await sharp(stored).metadata();
      assert.equal(meta.format, 'jpeg');
      assert.equal(meta.exif, undefined);
      assert.equal(meta.orientation, undefined);
      assert.deepEqual([meta.width, meta.height], [48, 64], 'the EXIF rotation is baked into the pixels');

      const queue = await call<{ invoices: { uid: string; card: string }[] }>(l.url, 'GET', '/v1/admin/invoices?status=notApprove', {
        token: admin.token,
      });
      assert.equal(queue.status, 200);
      const listed = queue.body.invoices.find((i) => i.uid === uid);
      assert.equal(listed?.card, '4111-11**-****-1111', 'administrators see the card masked');

      const decided = await call(l.url, 'POST', `/v1/admin/invoices/${uid}/decide`, {
        token: admin.token,
        json: { decision: 'success', reason: 'Receipt checks out' },
      });
      assert.equal(decided.status, 200, JSON.stringify(decided.body));
      const done = await expectChange('success');
      assert.equal(done.resolution, 'Receipt checks out');

      // One history entry per change, each with who acted.
      const history = await l.ts.system.invoices.history(inv.id);
      assert.deepEqual(
        history.map((h) => [h.status, h.actorType]),
        [
          ['not approve exchange', 'merchant'],
          ['wait card', 'trader'],
          ['send card', 'trader'],
          ['pay', 'payer'],
          ['pay', 'trader'],
          ['waitPhoto', 'trader'],
          ['notApprove', 'payer'],
          ['success', 'admin'],
        ],
      );
      assert.equal(history[3]?.actorId, PAYER);
    });

    test('variant: the payer does not pay in time, the sweeper rejects it and the room hears', async () => {
      const uid = await l.invoice('200');
      const trader = await l.account('trader');
      const payer = await l.connect(PAYER);
      payer.join(uid);
      await payer.next('ip:send');
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/accept`, { token: trader.token });
      await call(l.url, 'POST', `/v1/trader/invoices/${await l.idOf(uid)}/card`, { token: trader.token, json: { card: CARD } });
      await payer.next('invoce:refetch');
      await payer.next('invoce:refetch');

      clock.advance((l.ts.system.config.paymentTimeoutSeconds - 1) * 1000);
      assert.equal((await l.server.sweeper.runOnce()).expired, 0, 'not yet');
      clock.advance(1000);
      const swept = await l.server.sweeper.runOnce();
      assert.ok(swept.expired >= 1);

      await payer.next('invoce:refetch');
      let [update] = (await payer.next('invoice:update')) as [CheckoutView];
      while (update.status === 'send card') [update] = (await payer.next('invoice:update')) as [CheckoutView];
      assert.equal(update.status, 'rejected');
      assert.equal(update.card, null, 'no card to pay to once the time is up');

      const late = await call(l.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: PAYER });
      assert.equal(late.status, 409);
      assert.equal(late.body.code, 'TRANSITION_REFUSED');
    });
  });
}
