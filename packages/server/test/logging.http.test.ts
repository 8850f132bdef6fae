import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { createLogger, scrubSecrets } from '../src/log.ts';
import { type RunningServer, startServer } from '../src/start.ts';
import { createSystem, type System } from '../src/system.ts';
import { call, Recorder } from './support/live.ts';
import { ReferenceClient } from './support/reference-client.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const CARD = '4441114441114442';
const CARD_SPACED = '4441 1144 4111 4442';
const BAD_CARD = '4441 1144 4111 4443';
const PAYER = '198.51.100.77';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  [key: string]: unknown;
}

test('scrubSecrets removes tokens, card numbers and private keys wherever they are', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----';
  const line = JSON.stringify({ msg: `x nlm_abcdefghij1234567890 ${CARD} ${CARD_SPACED} 4441-1144-4111-4442 ${pem}`, time: 1764312000000 });
  const out = scrubSecrets(line);
  assert.doesNotThrow(() => JSON.parse(out), 'still one JSON line');
  for (const secret of ['nlm_abcdefghij', CARD, CARD_SPACED, '4441-1144', 'PRIVATE KEY', 'MIIEvQ'])
    assert.ok(!out.includes(secret), secret);
  assert.ok(out.includes('1764312000000'), 'a timestamp is not a card');
  assert.equal(scrubSecrets('{"id":"12345","amount":"1500.50","ip":"10.0.0.1"}'), '{"id":"12345","amount":"1500.50","ip":"10.0.0.1"}');
});

for (const kind of await dbKinds()) {
  describeOn(kind, `no token, card or key reaches the log (${kind})`, () => {
    let ts: TestSystem;
    let system: System;
    let server: RunningServer;
    const lines: string[] = [];
    before(async () => {
      ts = await testSystem(kind, { trustProxy: ['127.0.0.1/32', '::1/128'], host: '127.0.0.1' });
      // A second system on the same database, logging at debug into `lines`.
      const logger = createLogger({ level: 'debug', destination: { write: (line) => void lines.push(line) } });
      system = await createSystem(ts.system.config, { logger });
      server = await startServer(system.config, { system, sweeper: { intervalMs: 20 } });
    });
    after(async () => {
      await server.close();
      await system.close();
      await ts.cleanup();
    });

    test('a whole lifecycle, with failures, at debug level', async () => {
      const secrets: string[] = [CARD, CARD_SPACED];
      const { merchantId, accessToken } = await system.merchants.create('Shop');
      const trader = await system.accounts.create('trader', 'Trader');
      const admin = await system.accounts.create('admin', 'Admin');
      secrets.push(accessToken, trader.token, admin.token);
      const keyRow = await system.storage.db
        .selectFrom('merchant_keys')
        .select('id')
        .where('merchant_id', '=', Number(merchantId))
        .executeTakeFirstOrThrow();
      const pem = await system.merchants.privateKeyPem(Number(keyRow.id));
      const pemBody = pem.split('\n')[3] ?? '';
      assert.ok(pemBody.length > 40);
      secrets.push(pemBody);

      // The legacy envelope: the token in a form and in JSON, RSA in the workers.
      const legacy = new ReferenceClient(server.url, accessToken);
      const uid = await legacy.create('Order 1', '250');
      assert.equal((await legacy.call({ type: 'get', uid_link: uid })).json.status, true);
      assert.equal((await new ReferenceClient(server.url, 'nlm_not-a-real-token-but-shaped-like-one').post('x')).http, 401);

      // Trader, payer, administrator.
      const id = (await system.invoices.get(uid)).id;
      const payer = new Recorder(
        io(server.url, {
          path: '/socket.io',
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          extraHeaders: { 'x-forwarded-for': PAYER },
        }),
      );
      await payer.connected();
      payer.join(uid);
      await payer.next('ip:send');
      assert.equal((await call(server.url, 'POST', `/v1/trader/invoices/${id}/accept`, { token: trader.token })).status, 200);
      assert.equal(
        (await call(server.url, 'POST', `/v1/trader/invoices/${id}/card`, { token: trader.token, json: { card: BAD_CARD } })).status,
        400,
      );
      assert.equal(
        (await call(server.url, 'POST', `/v1/trader/invoices/${id}/card`, { token: trader.token, json: { card: CARD_SPACED } })).status,
        200,
      );
      assert.equal((await call(server.url, 'POST', `/v1/checkout/${uid}/paid`, { ip: PAYER })).status, 200);
      assert.equal(
        (await call(server.url, 'POST', `/v1/trader/invoices/${id}/dispute`, { token: trader.token, json: { reason: 'none' } })).status,
        200,
      );
      await system.invoices.act(uid, 'proofPhoto', { type: 'payer', id: PAYER }, { photoUrl: 'https://x.example/p.jpg' });
      const decided = await call(server.url, 'POST', `/v1/admin/invoices/${uid}/decide`, {
        token: admin.token,
        json: { decision: 'success', reason: 'ok' },
      });
      assert.equal(decided.status, 200);
      const watcher = new Recorder(
        io(server.url, {
          path: '/socket.io',
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          auth: { token: 'nla_wrong-token-of-the-right-shape' },
        }),
      );
      await watcher.connected();
      watcher.socket.emit('invoice:watch', { uid });
      await watcher.next('invoice:error');

      // Failures: wrong tokens, tokens where they do not belong, garbage.
      assert.equal((await call(server.url, 'GET', '/v1/trader/invoices', { token: 'nlt_wrong-token-of-the-right-shape' })).status, 401);
      const inQuery = await fetch(`${server.url}/v1/trader/invoices?access_token=${trader.token}`, {
        headers: { authorization: `Bearer ${trader.token}` },
      });
      assert.ok(inQuery.status < 500);
      assert.equal((await fetch(`${server.url}/nope/${accessToken}?card=${CARD}`)).status, 404);
      const garbage = await fetch(`${server.url}/method/RemoteInvoiceApi`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"access_token":"${accessToken}","card":"${CARD}"`,
      });
      assert.equal(garbage.status, 400);

      // Unexpected errors whose messages carry secrets: a route, the sweeper, an event listener.
      const leaky = () => new Error(`boom ${accessToken} ${CARD_SPACED} ${pem}`);
      const get = system.invoices.get.bind(system.invoices);
      const due = system.invoices.due.bind(system.invoices);
      system.invoices.get = async () => {
        throw leaky();
      };
      system.invoices.due = async () => {
        throw leaky();
      };
      const unsubscribe = system.bus.subscribe(() => {
        throw leaky();
      });
      try {
        const failed = await fetch(`${server.url}/v1/checkout/${uid}`, { headers: { 'x-request-id': 'leak-check-1' } });
        assert.equal(failed.status, 500);
        assert.ok(!(await failed.text()).includes('boom'), 'the client never sees the cause');
        await system.invoices.create(merchantId, { title: 'Order 2', price: '10' });
        for (let i = 0; i < 100 && !lines.some((l) => l.includes('sweeper error')); i++) await new Promise((r) => setTimeout(r, 20));
      } finally {
        system.invoices.get = get;
        system.invoices.due = due;
        unsubscribe();
      }
      payer.socket.disconnect();
      watcher.socket.disconnect();
      await server.close();

      const parsed = lines.map((l) => JSON.parse(l) as Line);
      const messages = parsed.map((l) => l.msg);
      for (const expected of [
        'request received',
        'request completed',
        'unexpected error',
        'sweeper error',
        'event listener failed',
        'shut down',
      ]) {
        assert.ok(messages.includes(expected), `the log has a "${expected}" line (so this test looks at real output)`);
      }
      const unexpected = parsed.find((l) => l.msg === 'unexpected error');
      assert.equal(unexpected?.reqId, 'leak-check-1', 'an error in a request names the request');
      assert.ok(JSON.stringify(unexpected).includes('boom'), 'the cause is logged, without its secrets');
      for (const line of parsed.filter((l) => l.msg === 'request received' || l.msg === 'request completed')) {
        assert.ok(typeof line.reqId === 'string' && line.reqId.length > 0, JSON.stringify(line));
      }

      const all = lines.join('');
      for (const secret of secrets) assert.ok(!all.includes(secret), `a secret reached the log: ${secret.slice(0, 8)}…`);
      assert.ok(!all.includes('PRIVATE KEY'), 'no private key');
      assert.ok(!/nl[mta]_[\w-]{16,}/.test(all), 'nothing shaped like a token');
      assert.ok(!all.includes(uid), 'no invoice UID (the payer link) either');
    });
  });
}
