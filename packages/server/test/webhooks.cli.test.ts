import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { verifyWebhook } from '@nltrade/sdk';
import { io } from 'socket.io-client';
import { createSystem } from '../src/system.ts';
import { type ClientSocket, type Live, live, Recorder } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';
import { Receiver } from './support/webhook-receiver.ts';

// The CLI from its sources (the built one may be stale while the tree is being worked on).
const MAIN = path.resolve(import.meta.dirname, '../../cli/src/main.ts');

/** `nltrade …` as a child process; its standard output is collected line by line. */
function nltrade(args: string[]): { child: ChildProcess; lines: string[]; stderr: () => string; next: (match: RegExp) => Promise<string> } {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { main } = await import(${JSON.stringify(MAIN)}); process.exitCode = await main(process.argv.slice(1));`,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let err = '';
  let partial = '';
  const waiters: (() => void)[] = [];
  child.stdout?.on('data', (c: Buffer) => {
    partial += c.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  let cursor = 0;
  return {
    child,
    lines,
    stderr: () => err,
    async next(match) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const i = lines.findIndex((l, idx) => idx >= cursor && match.test(l));
        if (i >= 0) {
          cursor = i + 1;
          return lines[i] as string;
        }
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`no line matching ${match} from nltrade; stdout: ${lines.join('\n')}; stderr: ${err}`);
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 200);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

for (const kind of await dbKinds()) {
  describeOn(kind, `webhooks:listen and nltrade webhooks listen (${kind})`, () => {
    let l: Live;
    before(async () => {
      l = await live(kind, undefined, { webhookAllowPrivate: true, requireTraderDeposit: false });
    });
    after(() => l.close());

    const socketWith = async (token: string | undefined) => {
      const r = new Recorder(
        io(l.url, { transports: ['websocket'], forceNew: true, reconnection: false, ...(token && { auth: { token } }) }) as ClientSocket,
      );
      await r.connected();
      return r;
    };

    test('webhooks:listen needs a merchant token, filters by type, and streams only that merchant’s events', async () => {
      for (const token of [undefined, 'nlm_not_a_real_token', (await l.account('trader', 'Listener')).token]) {
        const r = await socketWith(token);
        r.socket.emit('webhooks:listen', {});
        const [error] = (await r.next('webhooks:error')) as [{ code: string }];
        // No token, an unknown one, and a trader's alike: only a merchant has webhook events.
        assert.equal(error.code, 'UNAUTHORIZED');
        r.socket.disconnect();
      }
      const bad = await socketWith(l.merchantToken);
      bad.socket.emit('webhooks:listen', { events: ['invoice.paid'] });
      assert.equal(((await bad.next('webhooks:error')) as [{ code: string }])[0].code, 'VALIDATION_FAILED');
      bad.socket.disconnect();

      const all = await socketWith(l.merchantToken);
      all.socket.emit('webhooks:listen', {});
      assert.deepEqual(await all.next('webhooks:listening'), [{ events: null }]);
      const created = await socketWith(l.merchantToken);
      created.socket.emit('webhooks:listen', { events: ['invoice.status_changed'] });
      await created.next('webhooks:listening');

      const other = await l.ts.system.merchants.create('Other shop');
      await l.ts.system.invoices.create(other.merchantId, { title: 'Not yours', price: '100' });
      const mine = await l.ts.system.invoices.create(l.merchantId, { title: 'Yours', price: '100' });
      await l.ts.system.invoices.act(mine.id, 'cancel', { type: 'admin', id: null }, {}, { numbers: true });
      const [first] = (await all.next('webhooks:event')) as [{ type: string; data: { invoice: { uid: string } } }];
      const [second] = (await all.next('webhooks:event')) as [{ type: string; data: { invoice: { uid: string } } }];
      assert.deepEqual(
        [first.type, first.data.invoice.uid, second.type, second.data.invoice.uid],
        ['invoice.created', mine.uid, 'invoice.status_changed', mine.uid],
      );
      const [only] = (await created.next('webhooks:event')) as [{ type: string }];
      assert.equal(only.type, 'invoice.status_changed');
      assert.deepEqual(created.drain(), [], 'the filtered socket got nothing else');
      all.socket.disconnect();
      created.socket.disconnect();
    });

    test('nltrade webhooks listen forwards every event signed with its session secret, including other processes’ changes', async () => {
      const receiver = await Receiver.start((n) => (n === 1 ? 500 : 200));
      const cli = nltrade(['webhooks', 'listen', '--forward-to', receiver.url, '--url', l.url, '--token', l.merchantToken, '--json']);
      try {
        const { secret } = JSON.parse(await cli.next(/"secret"/)) as { secret: string };
        assert.match(secret, /^whsec_/);
        await cli.next(/"listening":true/);

        const here = await l.ts.system.invoices.create(l.merchantId, { title: 'Here', price: '100' });
        // Another process on the same database (as `nltrade admin …` would be): through the event log.
        const elsewhere = await createSystem(l.ts.system.config);
        let there: string;
        try {
          there = (await elsewhere.invoices.create(l.merchantId, { title: 'There', price: '200' })).uid;
        } finally {
          await elsewhere.close();
        }
        const lines = [JSON.parse(await cli.next(/"event"/)), JSON.parse(await cli.next(/"event"/))] as {
          invoice: string;
          status: number;
        }[];
        assert.deepEqual(
          lines.map((x) => [x.invoice, x.status]),
          [
            [here.uid, 200],
            [there, 500],
          ],
        );
        assert.equal(receiver.requests.length, 2);
        for (const r of receiver.requests) {
          const event = verifyWebhook(r.body, r.headers['nltrade-signature'], secret);
          assert.equal(event.type, 'invoice.created');
          assert.equal(r.headers['nltrade-event-id'], event.id);
        }
      } finally {
        const exited = new Promise<number | null>((resolve) => cli.child.once('exit', resolve));
        cli.child.kill('SIGTERM');
        assert.equal(await exited, 0, cli.stderr());
        await receiver.close();
      }
    });
  });
}
