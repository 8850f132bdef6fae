import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { dbKinds, describeOn, PG_URL } from '../../server/test/support/system.ts';
import { BIN, nltrade } from './support/bin.ts';

for (const kind of await dbKinds()) {
  describeOn(kind, `nltrade admin commands on ${kind}`, () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-cli-'));
    const schema = `cli_${randomBytes(5).toString('hex')}`;
    const env: Record<string, string> = { RSA_KEY_BITS: '2048', DATA_DIR: dataDir };
    before(async () => {
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`CREATE SCHEMA ${schema}`);
        await c.end();
        const url = new URL(PG_URL);
        url.searchParams.set('options', `-c search_path=${schema}`);
        env.DATABASE_URL = url.toString();
      }
    });
    after(async () => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      }
    });

    test('create-merchant --json prints the id and token; rotate-key rotates', async () => {
      const r = await nltrade(['admin', 'create-merchant', '--name', 'Shop', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { merchantId: string; accessToken: string };
      assert.match(out.merchantId, /^\d+$/);
      assert.match(out.accessToken, /^nlm_[\w-]{43}$/);
      const rot = await nltrade(['admin', 'rotate-key', '--merchant', out.merchantId], env);
      assert.equal(rot.code, 0, rot.stderr);
      assert.match(rot.stdout, /new 2048-bit key \d+ is current/);
      const missing = await nltrade(['admin', 'rotate-key', '--merchant', '424242'], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /No merchant with id 424242/);
    });

    test('create-trader and create-admin print {"id","token"}', async () => {
      for (const [cmd, prefix] of [
        ['create-trader', 'nlt_'],
        ['create-admin', 'nla_'],
      ] as const) {
        const r = await nltrade(['admin', cmd, '--name', 'Someone', '--json'], env);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout) as { id: string; token: string };
        assert.deepEqual(Object.keys(out).sort(), ['id', 'token']);
        assert.ok(out.token.startsWith(prefix));
      }
    });

    test('console logins: create with --password-stdin, merchant users, set-password, disable and enable', async () => {
      let r = await nltrade(['admin', 'create-trader', '--name', 'Console Tara', '--password-stdin', '--json'], env, 'first password 1\n');
      assert.equal(r.code, 0, r.stderr);
      const trader = JSON.parse(r.stdout) as { id: string; token: string; consoleUserId: string };
      assert.deepEqual(Object.keys(trader).sort(), ['consoleUserId', 'id', 'token']);
      assert.ok(trader.token.startsWith('nlt_'));
      r = await nltrade(['admin', 'create-admin', '--name', 'Short', '--password-stdin'], env, 'short\n');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /password must be at least 10 characters \(VALIDATION_FAILED\)/);
      r = await nltrade(['admin', 'set-password', '--name', 'Console Tara'], env);
      assert.equal(r.code, 2, 'the password is never a flag');
      assert.match(r.stderr, /--password-stdin is required/);

      r = await nltrade(['admin', 'create-merchant', '--name', 'Console shop', '--json'], env);
      const merchantId = (JSON.parse(r.stdout) as { merchantId: string }).merchantId;
      r = await nltrade(
        ['admin', 'create-merchant-user', '--merchant', merchantId, '--name', 'shop-clerk', '--password-stdin'],
        env,
        'clerk password 1',
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Console login "shop-clerk" \\(user \\d+\\) created for merchant ${merchantId}`));
      r = await nltrade(['admin', 'set-password', '--name', 'console tara', '--password-stdin'], env, 'second password 2\r\n');
      assert.equal(r.code, 0, r.stderr);
      r = await nltrade(['admin', 'disable-user', '--name', 'shop-clerk'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"shop-clerk" is disabled/);
      r = await nltrade(['admin', 'disable-user', '--name', 'nobody'], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /No console user named "nobody"/);

      // What the commands stored signs in (or not) through the server's own sign-in.
      const { createSystem, loadConfig } = await import('@nltrade/server');
      const system = await createSystem(loadConfig({ ...process.env, ...env }));
      try {
        const client = { ip: '192.0.2.1' };
        const tara = await system.sessions.login('Console Tara', 'second password 2', client);
        assert.equal(tara.user.accountId, trader.id);
        await assert.rejects(system.sessions.login('Console Tara', 'first password 1', { ip: '192.0.2.2' }), /Wrong name or password/);
        await assert.rejects(system.sessions.login('shop-clerk', 'clerk password 1', client), /Wrong name or password/);
        assert.equal(await system.consoleUsers.findByName('Short'), null);
      } finally {
        await system.close();
      }
      r = await nltrade(['admin', 'enable-user', '--name', 'shop-clerk', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { disabled: boolean }).disabled, false);
    });
  });
}

describe('nltrade usage errors', () => {
  const env = { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-cli-')) };
  test('unknown command, unknown flag, missing --name: exit 2 with usage', async () => {
    for (const args of [['bogus'], ['serve', '--bogus'], ['admin', 'create-merchant'], ['admin', 'frobnicate']]) {
      const r = await nltrade(args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /Usage: nltrade/);
    }
  });
  test('a bad port or database URL is a clear error', async () => {
    assert.equal((await nltrade(['serve', '--port', 'x'], env)).code, 2);
    const r = await nltrade(['admin', 'create-merchant', '--name', 'x', '--database-url', 'mysql://nope'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /postgres:\/\//);
  });
});

describe('nltrade serve --demo', () => {
  let child: ChildProcess | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nltrade-serve-'));
  after(() => {
    child?.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function startDemo(): Promise<{ url: string; output: string; proc: ChildProcess }> {
    const proc = spawn(process.execPath, [BIN, 'serve', '--demo', '--port', '0', '--data', dataDir], {
      env: { ...process.env, RSA_KEY_BITS: '2048', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 60_000);
      proc.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /running at (http:\/\/\S+)/.exec(output);
        // The banner is printed in one piece; its last line says it is all there.
        if (m && output.includes('nltrade trader card')) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      proc.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      proc.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
    });
    return { url, output, proc };
  }

  async function stop(proc: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    return exited;
  }

  test('starts, prints working demo credentials, keeps them across restarts, stops on SIGTERM', async () => {
    const first = await startDemo();
    const health = await fetch(`${first.url}/health`);
    assert.equal(health.status, 200);
    const token = /merchant \d+ access_token: (\S+)/.exec(first.output)?.[1];
    assert.ok(token, first.output);
    const key = await fetch(`${first.url}/helpers/getLatestPublicRemoteRsaKey.php`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${encodeURIComponent(token)}`,
    });
    assert.equal(key.status, 200);
    assert.match(first.output, /web console: +http:\S+\/console .*demo-trader, demo-admin or demo-merchant/);
    assert.match(first.output, /password demo-password +\(demo values/);
    for (const name of ['demo-trader', 'demo-admin', 'demo-merchant']) {
      const session = await fetch(`${first.url}/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password: 'demo-password' }),
      });
      assert.equal(session.status, 200, name);
      assert.equal(((await session.json()) as { user: { role: string } }).user.role, name.slice('demo-'.length));
    }
    assert.equal(await stop(first.proc), 0);

    // Demo data made before the console had no console users: the next start adds them.
    const { createSystem, loadConfig } = await import('@nltrade/server');
    const offline = await createSystem(loadConfig({ ...process.env, RSA_KEY_BITS: '2048' }, { dataDir }));
    try {
      await offline.storage.db.deleteFrom('console_sessions').execute();
      await offline.storage.db.deleteFrom('console_users').execute();
    } finally {
      await offline.close();
    }
    const second = await startDemo();
    assert.ok(second.output.includes(token), 'the same demo token is printed on the next start');
    const session = await fetch(`${second.url}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'demo-admin', password: 'demo-password' }),
    });
    assert.equal(session.status, 200);
    assert.equal(await stop(second.proc), 0);
  });
});

describe('nltrade trader and admin decide through the HTTP API', () => {
  test('a trader works an invoice from the command line; errors are clear', async () => {
    const { live } = await import('../../server/test/support/live.ts');
    const l = await live('sqlite');
    try {
      const trader = await l.account('trader');
      const admin = await l.account('admin');
      const uid = await l.invoice('100');
      const as = (token: string) => ['--url', l.url, '--token', token];
      // The trader finds it by number in the list; the UID is the payer's secret.
      let r = await nltrade(['trader', 'list', '--json', ...as(trader.token)], {});
      assert.equal(r.code, 0, r.stderr);
      const listed = (JSON.parse(r.stdout) as { invoices: { id: string; uid: string | null; amount: string }[] }).invoices;
      const id = listed.find((i) => i.amount === '100.00')?.id ?? '';
      assert.equal(id, await l.idOf(uid));
      assert.ok(!r.stdout.includes(uid));
      assert.deepEqual((JSON.parse(r.stdout) as { balance: unknown }).balance, {
        currency: 'USDT',
        deposit: '0.00',
        held: '0.00',
        available: '0.00',
        rewards: '0.00',
      });
      r = await nltrade(['trader', 'list', ...as(trader.token)], {});
      assert.match(r.stdout, new RegExp(`^\\s*${id}\\s+not approve exchange\\s+100\\.00 UAH`, 'm'));
      // The queue says what the deposit allows, so a short (or empty) list is never a mystery.
      assert.match(r.stdout, /^Available deposit: 0\.00 USDT \(held 0\.00\); open invoices worth more are not listed\.$/m);
      r = await nltrade(['trader', 'accept', uid, ...as(trader.token)], {});
      assert.equal(r.code, 1, 'an open invoice is not taken by its UID');
      assert.match(r.stderr, /Invoice not found/);
      r = await nltrade(['trader', 'accept', id, ...as(trader.token)], {});
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /wait card/);
      r = await nltrade(['trader', 'card', id, '4441 1144 4111 4443', ...as(trader.token)], {});
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Luhn/);
      r = await nltrade(['trader', 'card', id, '4441 1144 4111 4442', '--json', ...as(trader.token)], {});
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'send card');
      await l.ts.system.invoices.bindIp(uid, '10.9.9.9');
      await l.ts.system.invoices.act(uid, 'paid', { type: 'payer', id: '10.9.9.9' });
      r = await nltrade(['trader', 'amount', id, '90.50', ...as(trader.token)], {});
      assert.equal(r.code, 0, r.stderr);
      r = await nltrade(['trader', 'dispute', id, 'nothing arrived', ...as(trader.token)], {});
      assert.match(r.stdout, /waitPhoto/);
      await l.ts.system.invoices.act(uid, 'proofPhoto', { type: 'payer', id: '10.9.9.9' }, { photoUrl: 'https://x.example/p.jpg' });
      r = await nltrade(['admin', 'decide', uid, 'success', '--reason', 'receipt ok', ...as(admin.token)], {});
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /success/);
      r = await nltrade(['trader', 'confirm', id, ...as('nlt_wrong')], {});
      assert.equal(r.code, 1);
      assert.match(r.stderr, /UNAUTHORIZED/);
      r = await nltrade(['trader', 'accept', id, '--url', 'http://127.0.0.1:1', '--token', 'x'], {});
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Cannot reach/);
    } finally {
      await l.close();
    }
  });
});
