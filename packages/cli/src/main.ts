import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OPEN_STATUS } from '@nltrade/core';
import type { NlTradeClient } from '@nltrade/sdk';
import type { ConfigOverrides, System } from '@nltrade/server';
import { SETTINGS } from '@nltrade/server/config';
import { LEDGER_USAGE, ledgerAdmin } from './ledger.ts';
import { WEBHOOKS_USAGE } from './webhooks.ts';

// The server (Fastify, socket.io, database drivers, image codecs) and the SDK are loaded by
// the commands that use them, so `nltrade --help` or a usage error starts in a few tens of ms.
const server = () => import('@nltrade/server');

async function client(values: Values): Promise<NlTradeClient> {
  const { NlTradeClient } = await import('@nltrade/sdk');
  return new NlTradeClient({ baseUrl: required(values.url, '--url'), token: required(values.token, '--token') });
}

const flagLines = SETTINGS.filter((s) => s.flag)
  .map((s) => `      ${`${s.flag} (${s.env})`.padEnd(32)} default: ${s.default ?? 'unset'}`)
  .join('\n');

const USAGE = `Usage: nltrade <command> [options]

Server
  serve [--port N] [--host H] [--data DIR] [--database-url URL] [--workers N] [--demo]
      Starts the gateway. Flags win over their environment variables:
${flagLines}
      --demo creates a demo merchant, trader, admin and invoice on first start, and console
      users demo-trader, demo-admin and demo-merchant (password demo-password) for /console.
      Every setting and its variable: README.md, "Configuration".

Administration (work on the same --data / --database-url as serve, running or not)
  admin create-merchant --name NAME [--sandbox] [--json]
      prints the access token (JSON: {"merchantId","accessToken","sandbox"}); --sandbox: a test
      merchant (token nlm_test_…) whose invoices the simulated trader serves
  admin rotate-key --merchant ID               new current RSA key; the old one is retired
  admin create-trader --name NAME [--password-stdin] [--json]   prints {"id","token"}
  admin create-admin --name NAME [--password-stdin] [--json]    prints {"id","token"}
      --password-stdin: also a web console login of the same name, with the password read
      from standard input (e.g. printf %s "$PW" | nltrade admin create-trader --name N --password-stdin)
  admin create-merchant-user --merchant ID --name NAME --password-stdin
      a web console login for merchant ID
  admin set-password --name NAME --password-stdin   the login's sessions are signed out
  admin disable-user --name NAME | enable-user --name NAME
      a disabled login cannot sign in and its sessions end at once
  admin settings [--json]                      the timeouts in force, and their changes
  admin set-setting KEY SECONDS                a timeout (PAYMENT_TIMEOUT, ACCEPT_TIMEOUT, TRADER_CHECK_TIMEOUT,
      CARD_TIMEOUT, PHOTO_TIMEOUT) from the next transition on; a running server sees it within 5 s
  admin decide UID|ID success|canceled [--reason TEXT] [--url URL --token T]
      with --url, through the HTTP API as that administrator; without, directly on the
      database (a running server tells the payer's page within two seconds)
  admin backup --out FILE                      a consistent copy of the embedded database (mode 0600),
      safe while serve runs; the master key is not in it: keep that apart. PostgreSQL: pg_dump

Money (the ledger; on the database like the commands above; amounts in the settlement currency)
${LEDGER_USAGE}

Merchants (through the v1 API; --url and --token, or NLTRADE_URL and NLTRADE_TOKEN;
readable output, --json for scripts)
  invoice create --title T --amount A [--return-url U]   prints the UID and the checkout link
  invoice get UID                              the invoice with its history
  invoice list [--status S] [--limit N]        newest first
  invoice cancel UID                           while the payer has not paid
  invoice watch UID                            one line per change until the invoice ends (exit 0);
      never binds the invoice (only the payer's page joins it)
${WEBHOOKS_USAGE}

Payers
  pay UID --url URL [--paid] [--photo FILE] [--json]
      the payer's side in a terminal: joins the invoice (binding it to this machine's IP),
      shows the status and the card, asks you to press Enter once you have paid (--paid: at
      once), and sends FILE if the trader asks for a receipt photo (asked for otherwise).
      Exit 0 when the invoice succeeds, 1 when it ends otherwise. With a sandbox merchant's
      invoice (admin create-merchant --sandbox) the simulated trader answers within seconds.

Traders (through the HTTP API; invoices are named by their number, ID, as
\`GET /v1/trader/invoices\` lists them: the UID is the payer's secret)
  trader list --url URL --token T
  trader accept ID --url URL --token T
  trader card ID CARD --url URL --token T
  trader confirm ID --url URL --token T
  trader dispute ID [REASON] --url URL --token T
  trader amount ID AMOUNT --url URL --token T
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  data: { type: 'string' },
  'database-url': { type: 'string' },
  workers: { type: 'string' },
  demo: { type: 'boolean' },
  name: { type: 'string' },
  json: { type: 'boolean' },
  merchant: { type: 'string' },
  reason: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  out: { type: 'string' },
  // Merchant, sandbox, webhook and ledger commands (see USAGE).
  title: { type: 'string' },
  amount: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  sandbox: { type: 'boolean' },
  'return-url': { type: 'string' },
  'forward-to': { type: 'string' },
  events: { type: 'string' },
  photo: { type: 'string' },
  trader: { type: 'string' },
  account: { type: 'string' },
  bps: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  format: { type: 'string' },
  paid: { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

class UsageError extends Error {}

function overridesFrom(values: Values): ConfigOverrides {
  const o: ConfigOverrides = {};
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535 (got "${values.port}")`);
    o.port = port;
  }
  if (values.host !== undefined) o.host = values.host;
  if (values.data !== undefined) o.dataDir = values.data;
  if (values['database-url'] !== undefined) o.databaseUrl = values['database-url'];
  if (values.workers !== undefined) {
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256)
      throw new UsageError(`--workers must be 1-256 (got "${values.workers}")`);
    o.workers = workers;
  }
  return o;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

async function withSystem<T>(values: Values, fn: (system: System) => Promise<T>): Promise<T> {
  const { createSystem, loadConfig } = await server();
  const system = await createSystem(loadConfig(process.env, overridesFrom(values)));
  try {
    return await fn(system);
  } finally {
    await system.close();
  }
}

/** Demo console logins, made once; the password is a published demo value, never for production. */
const DEMO_CONSOLE_PASSWORD = 'demo-password';

/** Console users for the demo's trader, admin and merchant (also for demo data made before the console). */
async function ensureDemoConsoleUsers(system: System, demo: DemoData): Promise<void> {
  const users = [
    { name: 'demo-trader', role: 'trader', accountId: demo.traderId },
    { name: 'demo-admin', role: 'admin', accountId: demo.adminId },
    { name: 'demo-merchant', role: 'merchant', merchantId: demo.merchantId },
  ] as const;
  for (const user of users) {
    if (await system.consoleUsers.findByName(user.name)) continue;
    await system.consoleUsers.create({ ...user, password: DEMO_CONSOLE_PASSWORD });
  }
}

/**
 * The password of `--password-stdin`: standard input up to its end, without the one line
 * break `echo` or a here-string adds. Never a flag: those show in `ps` and shell history.
 */
async function passwordFromStdin(values: Values): Promise<string> {
  if (values['password-stdin'] !== true) throw new UsageError('--password-stdin is required: the password is read from standard input');
  if (process.stdin.isTTY) {
    throw new UsageError(
      '--password-stdin reads a pipe, e.g. printf %s "$PASSWORD" | nltrade admin set-password --name N --password-stdin',
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

interface DemoData {
  note: string;
  merchantId: string;
  accessToken: string;
  traderId: string;
  traderToken: string;
  adminId: string;
  adminToken: string;
  invoiceUid: string;
  /** The demo invoice's number, which traders use (they never see the UID). */
  invoiceId: string;
  /** A sandbox merchant: its invoices are served by the simulated trader (added to older demo data on start). */
  sandboxMerchantId?: string;
  sandboxAccessToken?: string;
}

/** Gives demo data a sandbox merchant when it has none (made before the sandbox existed). */
async function withSandboxMerchant(system: System, demo: DemoData): Promise<DemoData> {
  if (demo.sandboxAccessToken && (await system.merchants.authenticate(demo.sandboxAccessToken))) return demo;
  const sandbox = await system.merchants.create('Demo sandbox merchant', { sandbox: true });
  return { ...demo, sandboxMerchantId: sandbox.merchantId, sandboxAccessToken: sandbox.accessToken };
}

/** Demo accounts are made once and kept in DATA_DIR/demo.json so every start prints the same ones. */
async function ensureDemo(system: System): Promise<DemoData> {
  const file = path.join(system.config.dataDir, 'demo.json');
  if (fs.existsSync(file)) {
    const demo = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoData;
    if (await system.merchants.authenticate(demo.accessToken)) {
      // Demo data made before the ledger existed: give its trader the demo deposit too.
      if ((await system.ledger.traderBalance(demo.traderId)).deposit === 0) {
        await system.ledger.deposit(demo.traderId, '10000.00', { type: 'admin', id: null }, 'Demo deposit');
      }
      const invoice = await system.invoices.findByUid(demo.invoiceUid);
      const withSandbox = await withSandboxMerchant(system, demo);
      let updated: DemoData;
      if (invoice && invoice.status === OPEN_STATUS) {
        updated = { ...withSandbox, invoiceId: invoice.id };
      } else {
        const fresh = await system.invoices.create(demo.merchantId, { title: 'Demo order #2', price: '1500.00' });
        updated = { ...withSandbox, invoiceUid: fresh.uid, invoiceId: fresh.id };
      }
      if (JSON.stringify(updated) !== JSON.stringify(demo)) fs.writeFileSync(file, JSON.stringify(updated, null, 2), { mode: 0o600 });
      await ensureDemoConsoleUsers(system, updated);
      return updated;
    }
  }
  const merchant = await system.merchants.create('Demo merchant');
  const trader = await system.accounts.create('trader', 'Demo trader');
  // The demo trader can take invoices with the deposit gate on (REQUIRE_TRADER_DEPOSIT).
  await system.ledger.deposit(trader.id, '10000.00', { type: 'admin', id: null }, 'Demo deposit');
  const admin = await system.accounts.create('admin', 'Demo admin');
  const invoice = await system.invoices.create(merchant.merchantId, { title: 'Demo order #1', price: '1500.00' });
  const sandbox = await system.merchants.create('Demo sandbox merchant', { sandbox: true });
  const demo: DemoData = {
    note: 'DEMO CREDENTIALS for trying NL-Trade locally. Never use them in production.',
    merchantId: merchant.merchantId,
    accessToken: merchant.accessToken,
    traderId: trader.id,
    traderToken: trader.token,
    adminId: admin.id,
    adminToken: admin.token,
    invoiceUid: invoice.uid,
    invoiceId: invoice.id,
    sandboxMerchantId: sandbox.merchantId,
    sandboxAccessToken: sandbox.accessToken,
  };
  fs.writeFileSync(file, JSON.stringify(demo, null, 2), { mode: 0o600 });
  await ensureDemoConsoleUsers(system, demo);
  return demo;
}

async function serve(values: Values): Promise<number> {
  // Listening for signals from the very start: a supervisor may stop us while we start, or
  // the moment the banner is out, and must get a clean shutdown either way.
  let signalled = false;
  let onSignal = () => {
    signalled = true;
  };
  const signal = () => onSignal();
  process.on('SIGINT', signal);
  process.on('SIGTERM', signal);
  const { createSystem, loadConfig, startServer, runPrimary, isWorker, workerIndex } = await server();
  const config = loadConfig(process.env, overridesFrom(values));
  let running: { url: string; close(): Promise<void> };
  let demoSystem: (() => Promise<System>) | undefined;
  if (config.workers > 1 && isWorker()) {
    // One of N: the primary holds the port and prints the banner. The CPUs are shared out.
    const share = (configured: number) =>
      configured > 0 ? configured : Math.max(1, Math.floor(os.availableParallelism() / config.workers));
    const worker = await startServer(
      {
        ...config,
        rsaThreads: share(config.rsaThreads),
        photoDecodeThreads: share(config.photoDecodeThreads),
        // One port each: METRICS_PORT for the first worker, the next ones after it.
        metricsPort: config.metricsPort === undefined ? undefined : config.metricsPort + workerIndex(),
      },
      { logger: true, clusterWorker: true },
    );
    await untilSignal(() => worker.close());
    // The channel to the primary would keep this process alive.
    if (process.connected) process.disconnect();
    return 0;
  }
  if (config.workers > 1) {
    // Migrations (and the demo data) once, here, before any worker opens the database.
    const setup = await createSystem(config);
    demoSystem = async () => setup;
    const primary = await runPrimary({
      port: config.port,
      host: config.host,
      workers: config.workers,
      stopTimeoutMs: (config.shutdownTimeoutSeconds + 5) * 1000,
      log: (message) => console.error(`nltrade: ${message}`),
    });
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    running = { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${primary.port}`, close: () => primary.close() };
    const close = running.close;
    running.close = async () => {
      await close();
      await setup.close();
    };
  } else {
    const single = await startServer(config, { logger: true });
    demoSystem = async () => single.system;
    running = single;
  }
  const { url } = running;
  const lines = [
    `NL-Trade is running at ${url}`,
    `  database:   ${config.databaseUrl ? 'PostgreSQL' : `embedded SQLite in ${config.dataDir}`}`,
    `  legacy API: POST ${url}/method/RemoteInvoiceApi   key: POST ${url}/helpers/getLatestPublicRemoteRsaKey.php`,
    `  health:     ${url}/healthz   ready: ${url}/readyz   metrics: ${config.metricsPort ? `port ${config.metricsPort}` : `${url}/metrics`}`,
    ...(config.workers > 1 ? [`  processes:  ${config.workers} workers behind one port (pid ${process.pid} routes connections)`] : []),
  ];
  if (values.demo) {
    const demo = await ensureDemo(await (demoSystem as () => Promise<System>)());
    lines.push(
      '',
      `Demo data (DEMO ONLY; kept in ${path.join(config.dataDir, 'demo.json')}):`,
      `  checkout page:     ${url}/pay/${demo.invoiceUid}`,
      `  merchant ${demo.merchantId} access_token: ${demo.accessToken}`,
      `  trader ${demo.traderId} token:   ${demo.traderToken}`,
      `  admin ${demo.adminId} token:    ${demo.adminToken}`,
      `  sandbox merchant ${demo.sandboxMerchantId} access_token: ${demo.sandboxAccessToken}  (a simulated trader serves its invoices)`,
      `  web console:       ${url}/console   sign in as demo-trader, demo-admin or demo-merchant`,
      `                     with the password ${DEMO_CONSOLE_PASSWORD}  (demo values: never in production)`,
      `  API reference:     ${url}/docs   (OpenAPI: ${url}/v1/openapi.json)`,
      '',
      'Try it:',
      `  curl -s -H 'Authorization: Bearer ${demo.traderToken}' ${url}/v1/trader/invoices`,
      `  npx nltrade trader accept ${demo.invoiceId} --url ${url} --token ${demo.traderToken}`,
      `  npx nltrade trader card ${demo.invoiceId} 4441114441114442 --url ${url} --token ${demo.traderToken}`,
      `  curl -s -X POST ${url}/v1/invoices -H 'Authorization: Bearer ${demo.accessToken}' -H 'Content-Type: application/json' -d '{"title":"Order 1","amount":"1500.00"}'`,
      `  npx nltrade invoice create --title 'Test order' --amount 250.00 --url ${url} --token ${demo.sandboxAccessToken}`,
      `  npx nltrade pay UID --paid --url ${url}      (the payer's side of that test invoice, in the terminal)`,
    );
  }
  console.log(lines.join('\n'));
  await untilSignal(() => running.close());
  return 0;

  /** Waits for SIGINT/SIGTERM (or takes one that came during the start), then closes. */
  function untilSignal(close: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      onSignal = () => {
        process.off('SIGINT', signal);
        process.off('SIGTERM', signal);
        if (!isWorker()) console.log('Shutting down…');
        close().then(resolve, (err) => {
          console.error(err);
          resolve();
        });
      };
      if (signalled) onSignal();
    });
  }
}

function print(values: Values, json: object, text: string): void {
  console.log(values.json ? JSON.stringify(json) : text);
}

async function admin(sub: string | undefined, args: string[], values: Values): Promise<number> {
  switch (sub) {
    case 'create-merchant': {
      const name = required(values.name, '--name');
      const sandbox = values.sandbox === true;
      const r = await withSystem(values, (s) => s.merchants.create(name, { sandbox }));
      const what = sandbox ? 'Sandbox merchant' : 'Merchant';
      const note = sandbox ? '\nIts invoices are served by the simulated trader: test card, no real money (README.md, "Sandbox").' : '';
      print(values, r, `${what} ${r.merchantId} created.\naccess_token: ${r.accessToken}\n(shown once; it is stored hashed)${note}`);
      return 0;
    }
    case 'rotate-key': {
      const merchant = required(values.merchant, '--merchant');
      const key = await withSystem(values, (s) => s.merchants.rotateKey(merchant));
      print(
        values,
        { merchantId: merchant, keyId: key.id, bits: key.bits },
        `Merchant ${merchant}: new ${key.bits}-bit key ${key.id} is current; the previous key is retired.`,
      );
      return 0;
    }
    case 'create-trader':
    case 'create-admin': {
      const name = required(values.name, '--name');
      const role = sub === 'create-trader' ? 'trader' : 'admin';
      const who = role === 'trader' ? 'Trader' : 'Administrator';
      if (values['password-stdin']) {
        const password = await passwordFromStdin(values);
        // The account and its login in one transaction: never an account whose login failed.
        const r = await withSystem(values, (s) => s.consoleUsers.createStaff(role, name, password));
        print(
          values,
          { id: r.accountId, token: r.token, consoleUserId: r.userId },
          `${who} ${r.accountId} created, with the console login "${name}".\ntoken: ${r.token}\n(shown once; it is stored hashed)`,
        );
        return 0;
      }
      const r = await withSystem(values, (s) => s.accounts.create(role, name));
      print(values, r, `${who} ${r.id} created.\ntoken: ${r.token}\n(shown once; it is stored hashed)`);
      return 0;
    }
    case 'create-merchant-user': {
      const merchantId = required(values.merchant, '--merchant');
      const name = required(values.name, '--name');
      const password = await passwordFromStdin(values);
      const r = await withSystem(values, (s) => s.consoleUsers.create({ name, password, role: 'merchant', merchantId }));
      print(values, { id: r.id, merchantId }, `Console login "${name}" (user ${r.id}) created for merchant ${merchantId}.`);
      return 0;
    }
    case 'set-password': {
      const name = required(values.name, '--name');
      const password = await passwordFromStdin(values);
      const user = await withSystem(values, (s) => s.consoleUsers.setPassword(name, password));
      print(values, { id: user.id, name: user.name }, `New password set for "${user.name}"; its sessions are signed out.`);
      return 0;
    }
    case 'disable-user':
    case 'enable-user': {
      const name = required(values.name, '--name');
      const disable = sub === 'disable-user';
      const user = await withSystem(values, async (s) => {
        const found = await s.consoleUsers.findByName(name);
        if (!found) throw new Error(`No console user named "${name}"`);
        return disable ? s.consoleUsers.disable(found.id) : s.consoleUsers.enable(found.id);
      });
      print(
        values,
        { id: user.id, name: user.name, disabled: user.disabled },
        disable ? `"${user.name}" is disabled; its sessions have ended.` : `"${user.name}" may sign in again.`,
      );
      return 0;
    }
    case 'settings': {
      const [list, history] = await withSystem(values, async (s) =>
        Promise.all([s.runtimeSettings.list(), s.runtimeSettings.history(undefined, 20)]),
      );
      const when = (ms: number) => new Date(ms).toISOString();
      const lines = list.map(
        (x) =>
          `${x.key.padEnd(22)} ${String(x.value).padStart(7)} s${x.value === x.configured ? '' : `  (configured ${x.configured} s; changed ${when(Number(x.changed_at))} by ${x.changed_by})`}`,
      );
      print(values, { settings: list, history }, lines.join('\n'));
      return 0;
    }
    case 'set-setting': {
      const [key, value] = args;
      if (!key || value === undefined) throw new UsageError('usage: nltrade admin set-setting KEY SECONDS');
      const change = await withSystem(values, (s) => s.runtimeSettings.set(key, value, { type: 'admin', id: null }));
      print(values, change, `${change.key} is ${change.value} s from the next transition on.`);
      return 0;
    }
    case 'decide': {
      const [uid, decision] = args;
      if (!uid || (decision !== 'success' && decision !== 'canceled'))
        throw new UsageError('usage: nltrade admin decide UID|ID success|canceled [--reason TEXT]');
      const reason = values.reason ?? `Decided from the command line: ${decision}`;
      if (values.url) {
        const r = await (await client(values)).decide(uid, decision, reason);
        print(values, r, `Invoice ${uid}: ${r.status}`);
      } else {
        const inv = await withSystem(values, (s) =>
          s.invoices.act(uid, 'decide', { type: 'admin', id: null }, { decision, reason }, { numbers: true }),
        );
        print(values, { uid: inv.uid, status: inv.status }, `Invoice ${uid}: ${inv.status}`);
      }
      return 0;
    }
    case 'backup': {
      const out = required(values.out, '--out');
      const { backupDatabase, loadConfig } = await server();
      // No System: a backup must not migrate the database or make a master key where none is.
      const config = loadConfig(process.env, overridesFrom(values));
      const r = await backupDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, out });
      print(values, r, `Backed up ${config.dataDir} to ${r.file} (${r.bytes} bytes). Keep the master key apart from it.`);
      return 0;
    }
    case 'deposit':
    case 'withdraw':
    case 'payout':
    case 'adjust':
    case 'set-fee':
    case 'set-reward':
    case 'set-rate':
    case 'balances':
    case 'export-ledger':
      return ledgerAdmin(sub, args, values, { withSystem: (fn) => withSystem(values, fn), usage: (m) => new UsageError(m) });
    default:
      throw new UsageError(`unknown admin command "${sub ?? ''}"`);
  }
}

async function trader(sub: string | undefined, args: string[], values: Values): Promise<number> {
  const api = await client(values);
  if (sub === 'list') {
    const [{ invoices }, balance] = await Promise.all([api.traderInvoices(), api.traderBalance()]);
    const lines = invoices.map((i) => `${i.id.padStart(6)}  ${i.status.padEnd(20)}  ${i.amount.padStart(12)} UAH  ${i.title}`);
    // With the deposit gate on, what the deposit cannot cover is not listed: say so, or an
    // empty queue reads as "no work".
    lines.push(
      `Available deposit: ${balance.available} ${balance.currency} (held ${balance.held}); open invoices worth more are not listed.`,
    );
    if (invoices.length === 0) lines.unshift('No open invoices you can take, and none of yours.');
    print(values, { invoices, balance }, lines.join('\n'));
    return 0;
  }
  const [uid, arg] = args;
  if (!uid) throw new UsageError('the invoice number (ID, from `nltrade trader list`) is required');
  let r: { status: string };
  switch (sub) {
    case 'accept':
      r = await api.accept(uid);
      break;
    case 'card':
      r = await api.setCard(uid, required(arg, 'CARD'));
      break;
    case 'confirm':
      r = await api.confirm(uid);
      break;
    case 'dispute':
      r = await api.dispute(uid, arg);
      break;
    case 'amount':
      r = await api.changeAmount(uid, required(arg, 'AMOUNT'));
      break;
    default:
      throw new UsageError(`unknown trader command "${sub ?? ''}"`);
  }
  print(values, r, `Invoice ${uid}: ${r.status}`);
  return 0;
}

/** Runs one command; returns the exit code. Errors are printed, never thrown. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    console.error(`nltrade: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, sub, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(values);
      case 'admin':
        return await admin(sub, rest, values);
      case 'trader':
        return await trader(sub, rest, values);
      case 'invoice': {
        const { invoiceCommand } = await import('./merchant.ts');
        return await invoiceCommand(sub, rest, {
          url: values.url ?? process.env.NLTRADE_URL,
          token: values.token ?? process.env.NLTRADE_TOKEN,
          json: values.json === true,
          title: values.title,
          amount: values.amount,
          returnUrl: values['return-url'],
          status: values.status,
          limit: values.limit,
        });
      }
      case 'webhooks': {
        const { webhooksCommand } = await import('./webhooks.ts');
        return await webhooksCommand(sub, {
          url: values.url ?? process.env.NLTRADE_URL,
          token: values.token ?? process.env.NLTRADE_TOKEN,
          forwardTo: values['forward-to'],
          events: values.events,
          json: values.json === true,
        });
      }
      case 'pay': {
        const url = required(values.url ?? process.env.NLTRADE_URL, '--url (or NLTRADE_URL)');
        const { pay } = await import('./pay.ts');
        return await pay({
          url,
          uid: required(sub, 'the invoice UID'),
          photo: values.photo,
          paid: values.paid === true,
          json: values.json === true,
        });
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    // merchant.ts's usage errors carry the name: it is loaded lazily and cannot import this class.
    if (err instanceof UsageError || (err instanceof Error && err.name === 'UsageError')) {
      console.error(`nltrade: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (isCatalogError(err)) {
      console.error(`nltrade: ${err.message} (${err.code})`);
      return 1;
    }
    console.error(`nltrade: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}

/** The server's AppError and the SDK's NlTradeError, without loading either to ask `instanceof`. */
function isCatalogError(err: unknown): err is Error & { code: string } {
  return (
    err instanceof Error &&
    (err.name === 'AppError' || err.name === 'NlTradeError' || err.name === 'MerchantApiError') &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}
