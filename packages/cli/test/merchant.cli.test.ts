import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';
import type { CheckoutView, MerchantInvoice, WatchView } from '@nltrade/core';
import { type Live, live } from '../../server/test/support/live.ts';
import { dbKinds, describeOn } from '../../server/test/support/system.ts';
import { nltrade } from './support/bin.ts';
import { follow } from './support/follow.ts';

/** A real 8×8 PNG, made by hand (the CLI sends whatever file it is given; the server decodes it). */
function pngFile(dir: string): string {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(8, 0);
  ihdr.writeUInt32BE(8, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.alloc(8 * (1 + 8 * 3), 0x60);
  for (let y = 0; y < 8; y++) rows[y * 25] = 0;
  const file = path.join(dir, 'receipt.png');
  fs.writeFileSync(
    file,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', zlib.deflateSync(rows)),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
  return file;
}

const jsonLines = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

for (const kind of await dbKinds()) {
  describeOn(kind, `nltrade for merchants and payers, against a sandbox merchant (${kind})`, () => {
    let l: Live;
    let adminEnv: Record<string, string>;
    let env: Record<string, string>;
    let photo: string;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-merchant-cli-'));

    before(async () => {
      l = await live(kind, undefined, { sandboxDelayMs: 30 });
      const config = l.ts.system.config;
      adminEnv = {
        DATA_DIR: l.ts.dataDir,
        RSA_KEY_BITS: '2048',
        NLTRADE_MASTER_KEY: config.masterKey ?? '',
        ...(l.ts.databaseUrl && { DATABASE_URL: l.ts.databaseUrl }),
      };
      photo = pngFile(tmp);
    });
    after(async () => {
      await l.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    test('admin create-merchant --sandbox prints a test token (JSON and readable)', async () => {
      const r = await nltrade(['admin', 'create-merchant', '--name', 'Sandbox shop', '--sandbox', '--json'], adminEnv);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { merchantId: string; accessToken: string; sandbox: boolean };
      assert.match(out.accessToken, /^nlm_test_/);
      assert.equal(out.sandbox, true);
      assert.equal((await l.ts.system.merchants.authenticate(out.accessToken))?.sandbox, true);
      env = { NLTRADE_URL: l.url, NLTRADE_TOKEN: out.accessToken };

      const readable = await nltrade(['admin', 'create-merchant', '--name', 'Another', '--sandbox'], adminEnv);
      assert.equal(readable.code, 0, readable.stderr);
      assert.match(readable.stdout, /Sandbox merchant \d+ created\.\naccess_token: nlm_test_[\w-]+/);
      const real = await nltrade(['admin', 'create-merchant', '--name', 'Real', '--json'], adminEnv);
      assert.equal((JSON.parse(real.stdout) as { sandbox: boolean }).sandbox, false);
    });

    test('invoice create, get, list, cancel: --json for scripts, sentences by default', async () => {
      const created = await nltrade(['invoice', 'create', '--title', 'Order 7', '--amount', '120.03', '--json'], env);
      assert.equal(created.code, 0, created.stderr);
      const invoice = JSON.parse(created.stdout) as MerchantInvoice;
      assert.equal(invoice.amount, '120.03');
      assert.equal(invoice.sandbox, true);
      assert.equal(invoice.status, 'not approve exchange');

      const readable = await nltrade(
        ['invoice', 'create', '--title', 'Order 8', '--amount', '80.03', '--return-url', 'https://shop.example/done'],
        env,
      );
      assert.equal(readable.code, 0, readable.stderr);
      const [, uid8] = /Invoice ([a-z0-9]{30}) created: not approve exchange, 80\.03 UAH/.exec(readable.stdout) ?? [];
      assert.ok(uid8, readable.stdout);
      assert.match(readable.stdout, new RegExp(`checkout: ${l.url}/pay/${uid8}`));

      const got = await nltrade(['invoice', 'get', invoice.uid, '--json'], env);
      assert.equal(got.code, 0, got.stderr);
      assert.equal((JSON.parse(got.stdout) as MerchantInvoice).uid, invoice.uid);
      const gotText = await nltrade(['invoice', 'get', uid8 ?? ''], env);
      assert.match(gotText.stdout, /title: +Order 8/);
      assert.match(gotText.stdout, /return to: https:\/\/shop\.example\/done/);
      assert.match(gotText.stdout, /history:\n.*not approve exchange +create by merchant/);

      const listed = await nltrade(['invoice', 'list', '--limit', '1', '--json'], env);
      assert.equal(listed.code, 0, listed.stderr);
      const page = JSON.parse(listed.stdout) as { data: MerchantInvoice[]; has_more: boolean };
      assert.deepEqual(
        page.data.map((i) => i.uid),
        [uid8],
      );
      assert.equal(page.has_more, true);
      const listText = await nltrade(['invoice', 'list', '--status', 'not approve exchange'], env);
      assert.match(listText.stdout, new RegExp(`${invoice.uid} +not approve exchange +120\\.03 UAH .*Order 7`));

      const canceled = await nltrade(['invoice', 'cancel', invoice.uid], env);
      assert.equal(canceled.code, 0, canceled.stderr);
      assert.equal(canceled.stdout.trim(), `Invoice ${invoice.uid}: canceled`);
      assert.equal((await l.ts.system.invoices.get(invoice.uid)).status, 'canceled');
    });

    test("clear errors: no token, a bad status, an unknown invoice, someone else's invoice", async () => {
      const noToken = await nltrade(['invoice', 'list'], { NLTRADE_URL: l.url, NLTRADE_TOKEN: '' });
      assert.equal(noToken.code, 2);
      assert.match(noToken.stderr, /--token \(or NLTRADE_TOKEN\) is required/);
      const badStatus = await nltrade(['invoice', 'list', '--status', 'paid'], env);
      assert.equal(badStatus.code, 2);
      const unknown = await nltrade(['invoice', 'get', 'a'.repeat(30)], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /INVOICE_NOT_FOUND/);
      const unknownPay = await nltrade(['pay', 'a'.repeat(30), '--url', l.url, '--paid'], {});
      assert.equal(unknownPay.code, 1);
      assert.match(unknownPay.stderr, /INVOICE_NOT_FOUND/);
      // Another merchant's invoice, to watch; a payer elsewhere already holds it, to pay.
      const theirs = await l.invoice('10.00');
      const notMine = await nltrade(['invoice', 'watch', theirs], env);
      assert.equal(notMine.code, 1);
      assert.match(notMine.stderr, /INVOICE_NOT_FOUND/);
      await l.ts.system.invoices.bindIp(theirs, '203.0.113.9');
      const taken = await nltrade(['pay', theirs, '--url', l.url, '--paid'], {});
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, /bound to another payer/);
      assert.equal((await l.ts.system.invoices.get(theirs)).ip, '203.0.113.9');
    });

    test('pay --paid goes through to success while invoice watch follows it, one line per change', async () => {
      const created = JSON.parse((await nltrade(['invoice', 'create', '--title', 'Watched', '--amount', '300.00', '--json'], env)).stdout);
      const uid = (created as MerchantInvoice).uid;
      const text = follow(['invoice', 'watch', uid], env);
      const json = follow(['invoice', 'watch', uid, '--json'], env);
      const [paid, watched, watchedJson] = await (async () => {
        try {
          // The server sends a watcher its first line only once it is in the invoice's room, so a
          // payment started after both lines cannot change the invoice unseen by either. (The
          // sandbox trader may have taken it already; no payer can have joined.)
          const [first, firstJson] = await Promise.all([text.firstLine, json.firstLine]);
          assert.match(first, / 300\.00 UAH +\[sandbox\]$/);
          assert.equal((JSON.parse(firstJson) as WatchView).payerBound, false);
          return await Promise.all([nltrade(['pay', uid, '--url', l.url, '--paid'], {}), text.done, json.done]);
        } finally {
          text.kill();
          json.kill();
        }
      })();
      assert.equal(paid.code, 0, paid.stderr);
      assert.match(paid.stdout, /sandbox: test card/);
      assert.match(paid.stdout, /Pay 300\.00 UAH to card 4242 4242 4242 4242/);
      assert.match(paid.stdout, /Status: Completed \(success\)/);

      assert.equal(watched.code, 0, watched.stderr);
      const lines = watched.stdout.trim().split('\n');
      assert.match(lines.at(-1) ?? '', /success +300\.00 UAH +payer joined +\[sandbox\]/);
      assert.equal(watchedJson.code, 0, watchedJson.stderr);
      const views = jsonLines<WatchView>(watchedJson.stdout);
      assert.equal(views.at(-1)?.status, 'success');
      for (let i = 1; i < views.length; i++) assert.ok((views[i]?.version ?? 0) > (views[i - 1]?.version ?? 0));
      // The watchers never bound it: the payer's machine did.
      assert.equal((await l.ts.system.invoices.get(uid)).ip, '127.0.0.1');
    });

    test('pay with the dispute amount sends the --photo file and ends in success (--json)', async () => {
      const uid = (
        JSON.parse(
          (await nltrade(['invoice', 'create', '--title', 'Disputed', '--amount', '50.02', '--json'], env)).stdout,
        ) as MerchantInvoice
      ).uid;
      const r = await nltrade(['pay', uid, '--url', l.url, '--paid', '--photo', photo, '--json'], {});
      assert.equal(r.code, 0, r.stderr);
      const statuses = jsonLines<CheckoutView>(r.stdout).map((v) => v.status);
      for (const s of ['send card', 'pay', 'waitPhoto', 'notApprove', 'success'])
        assert.ok((statuses as string[]).includes(s), `${s} in ${statuses}`);
      const invoice = await l.ts.system.invoices.get(uid);
      assert.equal(invoice.status, 'success');
      assert.match(invoice.approvePhoto ?? '', /^\/v1\/photos\/[a-f0-9]{32}$/);
    });

    test('pay asks on standard input: Enter for "paid", then the photo path; the .04 dispute ends with exit 1', async () => {
      const uid = (
        JSON.parse((await nltrade(['invoice', 'create', '--title', 'Lost', '--amount', '50.04', '--json'], env)).stdout) as MerchantInvoice
      ).uid;
      const r = await nltrade(['pay', uid, '--url', l.url], {}, `\n${photo}\n`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Press Enter when you have paid/);
      assert.match(r.stderr, /Path to the receipt photo/);
      assert.match(r.stdout, /Sending the receipt photo/);
      assert.match(r.stdout, /Status: Canceled \(canceled\)/);
      assert.equal((await l.ts.system.invoices.get(uid)).status, 'canceled');
    });
  });
}
