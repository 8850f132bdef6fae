import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { ManualClock } from '../src/clock.ts';
import { call, type Live, live, Recorder } from './support/live.ts';
import { ReferenceClient } from './support/reference-client.ts';
import { dbKinds, describeOn } from './support/system.ts';

const PAYER = '198.51.100.30';
const CARD = '4441114441114442';

/** The value of one series in the exposition text (`name{labels}`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `Prometheus metrics (${kind})`, () => {
    let l: Live;
    const clock = new ManualClock(Date.now());
    before(async () => {
      l = await live(kind, clock);
    });
    after(() => l.close());

    const scrape = async (): Promise<string> => {
      const res = await fetch(`${l.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      return res.text();
    };

    test('series move when requests are answered, invoices change, sockets come and go', async () => {
      const before = await scrape();
      const openBefore = sample(before, 'nltrade_invoices{status="not approve exchange"}') ?? 0;
      assert.equal(sample(before, 'nltrade_invoices{status="success"}'), 0, 'every status has a series, even at 0');
      assert.equal(sample(before, 'nltrade_realtime_sockets{kind="payer"}'), 0);
      assert.ok(
        sample(before, 'process_resident_memory_bytes') !== undefined || sample(before, 'process_cpu_user_seconds_total') !== undefined,
      );

      const uid = await l.invoice('300');
      const trader = await l.account('trader');
      const id = await l.idOf(uid);
      const payer = await l.connect(PAYER);
      payer.join(uid);
      await payer.next('ip:send');
      const watcher = new Recorder(
        io(l.url, { path: '/socket.io', transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: l.merchantToken } }),
      );
      await watcher.connected();
      watcher.socket.emit('invoice:watch', { uid });
      await watcher.next('invoice:status');

      assert.equal((await call(l.url, 'GET', `/v1/checkout/${uid}`, { ip: PAYER })).status, 200);
      assert.equal((await call(l.url, 'POST', `/v1/trader/invoices/${id}/accept`, { token: trader.token })).status, 200);
      assert.equal(
        (await call(l.url, 'POST', `/v1/trader/invoices/${id}/card`, { token: trader.token, json: { card: CARD } })).status,
        200,
      );

      const after = await scrape();
      assert.equal(sample(after, 'nltrade_invoices{status="not approve exchange"}'), openBefore);
      assert.equal(
        sample(after, 'nltrade_invoices{status="send card"}'),
        (sample(before, 'nltrade_invoices{status="send card"}') ?? 0) + 1,
      );
      const moved = (text: string, labels: string) => sample(text, `nltrade_invoice_transitions_total{${labels}}`) ?? 0;
      assert.equal(
        moved(after, 'action="create",from="none",to="not approve exchange"') -
          moved(before, 'action="create",from="none",to="not approve exchange"'),
        1,
      );
      assert.equal(
        moved(after, 'action="accept",from="not approve exchange",to="wait card"') -
          moved(before, 'action="accept",from="not approve exchange",to="wait card"'),
        1,
      );
      assert.equal(
        moved(after, 'action="setCard",from="wait card",to="send card"') -
          moved(before, 'action="setCard",from="wait card",to="send card"'),
        1,
      );

      // Requests by route pattern: the UID and the invoice number are never in a label.
      const checkout = 'nltrade_http_requests_total{method="GET",route="/v1/checkout/:uid",status_code="200"}';
      assert.equal((sample(after, checkout) ?? 0) - (sample(before, checkout) ?? 0), 1);
      assert.ok(
        (sample(
          after,
          'nltrade_http_request_duration_seconds_count{method="POST",route="/v1/trader/invoices/:ref/accept",status_code="200"}',
        ) ?? 0) >= 1,
      );
      assert.ok(!after.includes(uid), 'no UID in /metrics');
      assert.ok(!after.includes(CARD) && !after.includes(trader.token) && !after.includes(l.merchantToken), 'no card or token in /metrics');
      assert.ok(!new RegExp(`route="[^"]*/${id}[/"]`).test(after), 'no invoice number in a route label');

      assert.equal(sample(after, 'nltrade_realtime_sockets{kind="payer"}'), 1);
      assert.equal(sample(after, 'nltrade_realtime_sockets{kind="watcher"}'), 1);
      payer.socket.disconnect();
      watcher.socket.disconnect();
      for (let i = 0; i < 50; i++) {
        const text = await scrape();
        if (sample(text, 'nltrade_realtime_sockets{kind="payer"}') === 0 && sample(text, 'nltrade_realtime_sockets{kind="watcher"}') === 0)
          return;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail('the socket gauges did not go back to 0');
    });

    test('sweeper lag: how long the most overdue invoice has waited, back to 0 once swept', async () => {
      assert.equal(sample(await scrape(), 'nltrade_sweeper_lag_seconds'), 0);
      const uid = await l.invoice('10');
      const invoice = await l.ts.system.invoices.get(uid);
      assert.ok(invoice.deadlineAt);
      clock.advance(invoice.deadlineAt - clock.now() + 90_000);
      assert.ok((sample(await scrape(), 'nltrade_sweeper_lag_seconds') ?? 0) >= 90);
      await l.server.sweeper.runOnce();
      assert.equal(sample(await scrape(), 'nltrade_sweeper_lag_seconds'), 0);
    });

    test('the event-log reader lag and the worker pools are reported', async () => {
      const text = await scrape();
      assert.ok(sample(text, 'nltrade_event_log_lag_seconds') !== undefined);
      assert.equal(sample(text, 'nltrade_rsa_threads'), l.ts.system.rsa.stats().threads);
      assert.equal(sample(text, 'nltrade_rsa_queued'), 0);
      assert.equal(sample(text, 'nltrade_rsa_utilisation'), 0);
      assert.equal(sample(text, 'nltrade_photo_decode{state="threads"}'), l.ts.system.photos.decodeStats().threads);
      assert.equal(sample(text, 'nltrade_photo_decode{state="queued"}'), 0);
      // A legacy request is one RSA decryption in the pool.
      const done = sample(text, 'nltrade_rsa_jobs_completed_total') ?? 0;
      await new ReferenceClient(l.url, l.merchantToken).create('Order', '5');
      assert.ok((sample(await scrape(), 'nltrade_rsa_jobs_completed_total') ?? 0) > done);
    });
  });
}

for (const kind of await dbKinds()) {
  describeOn(kind, `METRICS_PORT and separate registries (${kind})`, () => {
    let a: Live;
    let b: Live;
    before(async () => {
      a = await live(kind, undefined, { metricsPort: 0 });
      b = await live(kind);
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    test('with METRICS_PORT, /metrics is served only there; two servers in one process keep their own series', async () => {
      assert.equal((await fetch(`${a.url}/metrics`)).status, 404, 'not on the main port');
      const url = a.server.metricsUrl;
      assert.ok(url);
      assert.notEqual(new URL(url).port, new URL(a.url).port);
      assert.equal(new URL(url).hostname, '127.0.0.1', 'bound to HOST');
      assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
      assert.equal(b.server.metricsUrl, undefined);

      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${a.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${b.url}/healthz`)).status, 200);
      const series = 'nltrade_http_requests_total{method="GET",route="/healthz",status_code="200"}';
      assert.equal(sample(await (await fetch(url)).text(), series), 3);
      assert.equal(sample(await (await fetch(`${b.url}/metrics`)).text(), series), 1);
    });
  });
}
