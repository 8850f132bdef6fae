import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type RunningServer, startServer } from '../src/start.ts';
import { type LegacyResponse, ReferenceClient } from './support/reference-client.ts';
import { dbKinds, describeOn, type TestSystem, testSystem } from './support/system.ts';

const BOUND = 3;

// One merchant floods the legacy API; beyond its bound (RSA_QUEUE_PER_MERCHANT) its requests
// get 503 at once, and another merchant is served as usual. No timing is measured: the
// flooder's admitted requests are held (its key's first load waits on a gate), so exactly
// the excess answers first.
for (const kind of await dbKinds()) {
  describeOn(kind, `legacy API under one merchant's flood (${kind})`, () => {
    let t: TestSystem;
    let server: RunningServer;
    let flooder: ReferenceClient;
    let other: ReferenceClient;
    let flooderKeyId: number;

    before(async () => {
      t = await testSystem(kind, { rsaQueuePerMerchant: BOUND });
      server = await startServer(t.system.config, { system: t.system, sweeper: { start: false } });
      const a = await t.system.merchants.create('Flooder');
      flooder = new ReferenceClient(server.url, a.accessToken);
      other = new ReferenceClient(server.url, (await t.system.merchants.create('Other')).accessToken);
      flooderKeyId = (await t.system.merchants.authenticateWithKeys(a.accessToken))!.keys[0]!.id;
    });
    after(async () => {
      await server?.close();
      await t?.cleanup();
    });

    test('beyond its bound the flooder gets 503 UNAVAILABLE; the other merchant is served', { timeout: 15_000 }, async () => {
      // The other merchant's key is loaded before the gate goes up.
      const uid = await other.create('Not starved', '10');
      const merchants = t.system.merchants;
      const load = merchants.privateKeyPem.bind(merchants);
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      merchants.privateKeyPem = async (keyId: number) => {
        if (keyId === flooderKeyId) await gate;
        return load(keyId);
      };
      try {
        const excess = 5;
        const answered: LegacyResponse[] = [];
        let seen!: () => void;
        const excessAnswered = new Promise<void>((resolve) => {
          seen = resolve;
        });
        const flood = Array.from({ length: BOUND + excess }, () =>
          flooder.post(randomBytes(256).toString('base64')).then((res) => {
            answered.push(res);
            if (answered.length === excess) seen();
            return res;
          }),
        );
        await excessAnswered;
        for (const res of answered) {
          assert.equal(res.http, 503, JSON.stringify(res.json));
          assert.equal(res.json.status, false);
          assert.equal(res.json.code, 'UNAVAILABLE');
          assert.equal(typeof res.json.message, 'string');
        }

        // The flooder's admitted requests are still waiting; the other merchant is not.
        const got = await other.call({ type: 'get', uid_link: uid });
        assert.equal(got.http, 200, JSON.stringify(got.json));
        assert.equal(got.json.response.data.invoice[0].uid_link, uid);
        assert.equal(answered.length, excess, 'the admitted requests are still held');

        open();
        const all = await Promise.all(flood);
        const admitted = all.filter((res) => res.http !== 503);
        assert.equal(admitted.length, BOUND);
        // Admitted, they get the ordinary answer to undecryptable data.
        for (const res of admitted) assert.equal(res.http, 400, JSON.stringify(res.json));
      } finally {
        open();
        merchants.privateKeyPem = load;
      }
      // The bound counts what is waiting, not what was ever sent: the flooder is served again.
      const uid2 = await flooder.create('After the flood', '5');
      assert.equal((await flooder.call({ type: 'get', uid_link: uid2 })).http, 200);
    });
  });
}
