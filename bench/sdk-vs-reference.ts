/**
 * The SDK's legacy client against the original's way of calling the Remote Invoice API.
 *
 *   node --conditions=source --import tsx bench/sdk-vs-reference.ts
 *
 * Env: RSA_KEY_BITS (4096, the server's default), RSA_KEY_PRIMES (the server's default, classic
 * keys; 0 = multi-prime, see README), BENCH_CALLS (per phase; 300, quick 100),
 * BENCH_ROUNDS (4, quick 2), DB (sqlite or postgres; sqlite).
 *
 * Both read the same invoice with `get`, one call at a time, as a merchant's backend does
 * per page view or while it waits for the payer:
 * (1) sdk: `RemoteInvoiceClient.get` from @nltrade/sdk, which fetches the merchant's public key
 *     once, keeps it and fetches it again only when told "Your key is too old", and sends
 *     the envelope it sealed for this invoice again (the server answers an envelope it has
 *     already opened without an RSA operation);
 * (2) reference: test/support/reference-client.ts, written as the protocol reference
 *     describes the original client: a form POST for the key before every call, `atob` and
 *     the −13 shift, then the encrypted call.
 * Phases alternate; the figure is the median over rounds of (reference ms per call ÷ sdk ms
 * per call): how many times faster the SDK is per call (target ≥ 2×). A third phase has the
 * SDK read a different invoice on every call (a first read of each: a new envelope, one RSA
 * operation on the server), shown as "sdk, every invoice once". The last line is
 * `RESULT {json}`.
 */
import { RemoteInvoiceClient } from '@nltrade/sdk';
import { startServer } from '../packages/server/src/start.ts';
import { ReferenceClient } from '../packages/server/test/support/reference-client.ts';
import { type DbKind, testSystem } from '../packages/server/test/support/system.ts';

const quick = process.env.BENCH_QUICK === '1';
const BITS = Number(process.env.RSA_KEY_BITS ?? 4096);
const CALLS = Number(process.env.BENCH_CALLS ?? (quick ? 100 : 300));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 2 : 4));
const KIND: DbKind = process.env.DB === 'postgres' ? 'postgres' : 'sqlite';
const TARGET = 2;

const PRIMES = process.env.RSA_KEY_PRIMES;
const ts = await testSystem(KIND, {
  host: '127.0.0.1',
  rsaKeyBits: BITS,
  ...(PRIMES !== undefined && PRIMES !== '' && { rsaKeyPrimes: Number(PRIMES) }),
  rsaThreads: 0,
  logLevel: 'warn',
});
const server = await startServer(ts.system.config, { system: ts.system, sweeper: { start: false } });
const { merchantId, accessToken } = await ts.system.merchants.create('Bench shop');
const uid = (await ts.system.invoices.create(merchantId, { title: 'Order 42', price: '1500.00' })).uid;

const sdk = new RemoteInvoiceClient({ baseUrl: server.url, accessToken });
// One never-read invoice for each call of the "every invoice once" phases.
const unread: string[] = [];
for (let i = 0; i < CALLS * ROUNDS; i++)
  unread.push((await ts.system.invoices.create(merchantId, { title: `Order ${i}`, price: '1500.00' })).uid);
const reference = new ReferenceClient(server.url, accessToken);

async function timePhase(get: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await get();
  return Number(process.hrtime.bigint() - started) / 1e6 / CALLS;
}

const sdkGet = async () => {
  const invoice = await sdk.get(uid);
  if (invoice.uid_link !== uid) throw new Error('sdk: wrong invoice');
};
const sdkGetOnce = async () => {
  const next = unread.pop() as string;
  const invoice = await sdk.get(next);
  if (invoice.uid_link !== next) throw new Error('sdk: wrong invoice');
};
const referenceGet = async () => {
  const res = await reference.call({ type: 'get', uid_link: uid });
  if (res.http !== 200 || res.json.status !== true) throw new Error(`reference: ${res.http} ${JSON.stringify(res.json).slice(0, 200)}`);
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
try {
  // Warm both (JIT, the SDK's key, keep-alive connections).
  for (let i = 0; i < 10; i++) {
    await sdkGet();
    await referenceGet();
  }
  const ratios: number[] = [];
  const sdkMs: number[] = [];
  const refMs: number[] = [];
  const onceMs: number[] = [];
  const onceRatios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const ref = await timePhase(referenceGet);
    const s = await timePhase(sdkGet);
    const once = await timePhase(sdkGetOnce);
    refMs.push(ref);
    sdkMs.push(s);
    onceMs.push(once);
    ratios.push(ref / s);
    onceRatios.push(ref / once);
    console.log(
      `round ${r + 1}: reference ${ref.toFixed(2)} ms/call, sdk ${s.toFixed(2)} ms/call (${(ref / s).toFixed(2)}×), sdk every invoice once ${once.toFixed(2)} ms/call (${(ref / once).toFixed(2)}×)`,
    );
  }
  const ratio = median(ratios);
  console.log(
    `sdk, every invoice once (a new envelope each call): ${median(onceMs).toFixed(2)} ms per call, ${median(onceRatios).toFixed(2)}× faster than the reference`,
  );
  const met = ratio >= TARGET;
  console.log(
    `${KIND}, ${BITS}-bit: sdk get ${median(sdkMs).toFixed(2)} ms vs reference ${median(refMs).toFixed(2)} ms per call: ${ratio.toFixed(2)}× faster (median of ${ROUNDS} rounds of ${CALLS}; target ≥ ${TARGET}×: ${met ? 'met' : 'NOT met'})`,
  );
  console.log(
    `RESULT ${JSON.stringify({
      name: 'sdk-vs-reference',
      metric: `reference ms/get ÷ sdk ms/get (${BITS}-bit, ${KIND})`,
      value: Number(median(sdkMs).toFixed(2)),
      baseline: Number(median(refMs).toFixed(2)),
      ratio: Number(ratio.toFixed(2)),
      target: `>= ${TARGET}`,
      met,
      every_invoice_once_ratio: Number(median(onceRatios).toFixed(2)),
    })}`,
  );
  if (!met) process.exitCode = 1;
} finally {
  await server.close();
  await ts.cleanup();
}
