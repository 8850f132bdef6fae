import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ConsoleChange } from '@nltrade/core';
import { ManualClock } from '../src/clock.ts';
import { SESSION_COOKIE } from '../src/services/sessions.ts';
import { type Live, live, type Recorder } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const CARD = '4441114441114442';
const PASSWORD = 'correct horse battery';

/** Every `console:changed` hint the socket has had so far (waiting `ms` for more to arrive). */
async function hints(r: Recorder, ms = 300): Promise<ConsoleChange[]> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return r.events.filter((e) => e.event === 'console:changed').map((e) => e.args[0] as ConsoleChange);
}

/** Waits for a hint about invoice `id` reaching `status`. */
async function hintFor(r: Recorder, id: string, status: string): Promise<ConsoleChange> {
  for (;;) {
    const [change] = (await r.next('console:changed', 5000)) as [ConsoleChange];
    if (change.id === id && change.status === status) return change;
  }
}

async function listening(r: Recorder): Promise<string> {
  r.socket.emit('console:listen');
  const [info] = (await r.next('console:listening', 5000)) as [{ role: string }];
  return info.role;
}

for (const kind of await dbKinds()) {
  describeOn(kind, `console:listen — the consoles' live hints (${kind})`, () => {
    let l: Live;
    const clock = new ManualClock(Date.now());
    let trader: { id: string; token: string };
    let rival: { id: string; token: string };
    let admin: { id: string; token: string };
    before(async () => {
      l = await live(kind, clock);
      trader = await l.account('trader', 'Taras');
      rival = await l.account('trader', 'Rival');
      admin = await l.account('admin', 'Olena');
    });
    after(() => l.close());

    /** A signed-in console session's cookie for a new user of `role`. */
    async function cookieOf(role: 'trader' | 'merchant', name: string): Promise<string> {
      const input =
        role === 'merchant'
          ? { name, password: PASSWORD, role, merchantId: l.merchantId }
          : { name, password: PASSWORD, role, accountId: trader.id };
      await l.ts.system.consoleUsers.create(input);
      const session = await l.ts.system.sessions.login(name, PASSWORD, { ip: '127.0.0.1' });
      return `${SESSION_COOKIE}=${session.token}`;
    }

    test('each role hears what it may see: the merchant its invoices, a trader the queue and its own, an admin all', async () => {
      const merchantCookie = await cookieOf('merchant', 'shop-user');
      const merchant = await l.connect('10.1.0.1', { headers: { cookie: merchantCookie } });
      const taras = await l.connect('10.1.0.2', { auth: { token: trader.token } });
      const other = await l.connect('10.1.0.3', { auth: { token: rival.token } });
      const boss = await l.connect('10.1.0.4', { auth: { token: admin.token } });
      assert.equal(await listening(merchant), 'merchant');
      assert.equal(await listening(taras), 'trader');
      assert.equal(await listening(other), 'trader');
      assert.equal(await listening(boss), 'admin');

      // A new invoice enters the queue: everyone hears of it; traders without its UID.
      const uid = await l.invoice();
      const id = await l.idOf(uid);
      assert.equal((await hintFor(merchant, id, 'not approve exchange')).uid, uid);
      assert.equal((await hintFor(boss, id, 'not approve exchange')).uid, uid);
      const queued = await hintFor(taras, id, 'not approve exchange');
      assert.equal(queued.uid, undefined, 'a trader never learns the payer’s UID');
      await hintFor(other, id, 'not approve exchange');

      // Taras takes it: the rival hears that it left the queue, then nothing more of it.
      await l.ts.system.invoices.act(id, 'accept', { type: 'trader', id: trader.id }, {}, { numbers: true });
      await hintFor(taras, id, 'wait card');
      await hintFor(other, id, 'wait card');
      await l.ts.system.invoices.act(id, 'setCard', { type: 'trader', id: trader.id }, { card: CARD }, { numbers: true });
      await hintFor(taras, id, 'send card');
      await hintFor(merchant, id, 'send card');
      await hintFor(boss, id, 'send card');
      assert.ok(!(await hints(other)).some((h) => h.id === id && h.status === 'send card'), 'the rival does not follow Taras’s invoice');

      // Another merchant's invoice reaches neither this merchant nor (once taken) the rival.
      const stranger = await l.ts.system.merchants.create('Another shop');
      const theirs = await l.ts.system.invoices.create(stranger.merchantId, { title: 'x', price: '10' });
      await hintFor(boss, theirs.id, 'not approve exchange');
      assert.ok(!(await hints(merchant)).some((h) => h.id === theirs.id), 'a merchant hears only of its own invoices');
    });

    test('a socket without a session or token is refused; a cookie from another site’s page is not used', async () => {
      const anonymous = await l.connect('10.2.0.1');
      anonymous.socket.emit('console:listen');
      const [err] = (await anonymous.next('console:error', 5000)) as [{ code: string }];
      assert.equal(err.code, 'UNAUTHORIZED');

      const cookie = await cookieOf('trader', 'taras-console');
      const crossSite = await l.connect('10.2.0.2', { headers: { cookie, origin: 'https://evil.example' } });
      crossSite.socket.emit('console:listen');
      const [refused] = (await crossSite.next('console:error', 5000)) as [{ code: string }];
      assert.equal(refused.code, 'UNAUTHORIZED');

      const own = await l.connect('10.2.0.3', { headers: { cookie } });
      assert.equal(await listening(own), 'trader');
    });

    test('a signed-out session stops hearing: its socket is closed at the next hint after the recheck interval', async () => {
      const name = 'leaving-user';
      await l.ts.system.consoleUsers.create({ name, password: PASSWORD, role: 'merchant', merchantId: l.merchantId });
      const session = await l.ts.system.sessions.login(name, PASSWORD, { ip: '127.0.0.1' });
      const r = await l.connect('10.3.0.1', { headers: { cookie: `${SESSION_COOKIE}=${session.token}` } });
      assert.equal(await listening(r), 'merchant');
      await l.ts.system.sessions.logout(session.token);
      clock.advance(31_000);
      const closed = new Promise<void>((resolve) => r.socket.once('disconnect', () => resolve()));
      await l.invoice();
      await closed;
      assert.equal(r.socket.connected, false);
    });
  });
}
