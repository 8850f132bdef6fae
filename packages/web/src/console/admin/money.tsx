import {
  type AccountBalanceView,
  type LedgerEntryView,
  type LedgerFeesView,
  type LedgerPageView,
  type LedgerSettingView,
  LIMITS,
  type RatesView,
} from '@nltrade/core';
import { useState } from 'preact/hooks';
import { ErrorNote, formatDate, money, OkNote, optional, Table, useAction, useAdmin, useId, useLoad } from './common.tsx';
import type { AdminStrings } from './strings.ts';

/** Balances, the rate, fees and rewards, the money operations and the ledger. */
export function Money() {
  const { t } = useAdmin();
  // Every operation changes balances and the ledger: both refetch after one.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);
  return (
    <section aria-labelledby="adm-money-title" data-testid="money">
      <h2 id="adm-money-title">{t.moneyTitle}</h2>
      <Balances version={version} />
      <Rate />
      <Fees />
      <section aria-labelledby="adm-ops-title">
        <h3 id="adm-ops-title">{t.operations}</h3>
        <div class="adm-columns">
          <Operation op="deposit" onDone={changed} />
          <Operation op="withdraw" onDone={changed} />
          <Operation op="payout" onDone={changed} />
          <Operation op="adjust" onDone={changed} />
        </div>
      </section>
      <Ledger version={version} />
    </section>
  );
}

function Balances({ version }: { version: number }) {
  const { api, t, lang } = useAdmin();
  const loaded = useLoad(() => api.get<{ accounts: AccountBalanceView[] }>('/v1/admin/balances'), [version]);
  const rows = loaded.data?.accounts ?? [];
  return (
    <section class="adm-card" aria-labelledby="adm-balances-title">
      <h3 id="adm-balances-title">{t.balances}</h3>
      <ErrorNote error={loaded.error} />
      {loaded.data === null && loaded.loading ? <p aria-busy="true">{t.loading}</p> : null}
      {loaded.data !== null && rows.length === 0 ? <p>{t.balancesEmpty}</p> : null}
      {rows.length > 0 ? (
        <Table
          label={t.balances}
          testId="balances"
          columns={[{ label: t.colLedgerAccount }, { label: t.colKind }, { label: t.colOwner }, { label: t.colBalance, num: true }]}
        >
          {rows.map((r) => (
            <tr key={r.account}>
              <th scope="row" class="adm-mono">
                {r.account}
              </th>
              <td>{t.kinds[r.kind] ?? r.kind}</td>
              <td>{r.owner_id ?? t.none}</td>
              <td class="adm-num">{money(r.balance, r.currency, lang)}</td>
            </tr>
          ))}
        </Table>
      ) : null}
    </section>
  );
}

function Rate() {
  const { api, t, lang } = useAdmin();
  const [version, setVersion] = useState(0);
  const loaded = useLoad(() => api.get<RatesView>('/v1/admin/rates'), [version]);
  const [rate, setRate] = useState('');
  const [merchant, setMerchant] = useState('');
  const action = useAction();
  const ids = { rate: useId('adm-rate'), merchant: useId('adm-rate-m') };

  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const s = await api.post<LedgerSettingView>('/v1/admin/rates', { rate: rate.trim(), merchant: optional(merchant) });
      return t.settingSaved(s.value);
    });
    if (ok) {
      setRate('');
      setVersion((v) => v + 1);
    }
  };

  const history = loaded.data?.history ?? [];
  return (
    <section class="adm-card" aria-labelledby="adm-rate-title">
      <h3 id="adm-rate-title">{t.rateTitle}</h3>
      <ErrorNote error={loaded.error} />
      <p>
        {t.rateNow}:{' '}
        <strong class="adm-amount" data-testid="rate-now">
          {loaded.data?.rate ?? t.none}
        </strong>
      </p>
      <form class="adm-form adm-grid-form" onSubmit={submit} aria-label={t.rateSet}>
        <div class="adm-input">
          <label for={ids.rate}>{t.rateNew}</label>
          <input
            id={ids.rate}
            name="rate"
            required
            inputMode="decimal"
            maxLength={20}
            value={rate}
            onInput={(e) => setRate(e.currentTarget.value)}
          />
        </div>
        <div class="adm-input">
          <label for={ids.merchant}>{t.rateMerchant}</label>
          <input
            id={ids.merchant}
            name="merchant"
            inputMode="numeric"
            value={merchant}
            onInput={(e) => setMerchant(e.currentTarget.value)}
          />
        </div>
        <div class="adm-wide">
          <ErrorNote error={action.error} />
          <OkNote text={action.done} />
          <button type="submit" class="adm-primary" disabled={action.busy}>
            {action.busy ? t.saving : t.rateSet}
          </button>
        </div>
      </form>
      <h4>{t.rateHistory}</h4>
      {history.length === 0 ? (
        <p>{t.rateHistoryEmpty}</p>
      ) : (
        <Table label={t.rateHistory} columns={[{ label: t.colWhen }, { label: t.colFor }, { label: t.colValue, num: true }]}>
          {history.slice(0, 20).map((s) => (
            <tr key={`${s.at}-${s.owner_id}-${s.value}`}>
              <td>{formatDate(s.at, lang)}</td>
              <td>{s.owner_id ? `${t.merchant} ${s.owner_id}` : t.everyone}</td>
              <td class="adm-num">{s.value}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

/** Basis points with the percentage they are, from the integer alone (no float arithmetic). */
function bpsText(t: AdminStrings, bps: number): string {
  if (!Number.isInteger(bps)) return String(bps);
  const sign = bps < 0 ? '-' : '';
  const abs = Math.abs(bps);
  const cents = String(abs % 100).padStart(2, '0');
  return t.bpsValue(bps, `${sign}${Math.trunc(abs / 100)}${t.decimalPoint}${cents}`);
}

/** The platform-wide fee and reward in force, their forms, and every change of either (per-owner ones too). */
function Fees() {
  const { api, t, lang } = useAdmin();
  const [version, setVersion] = useState(0);
  const loaded = useLoad(() => api.get<LedgerFeesView>('/v1/admin/ledger/fees'), [version]);
  const changed = () => setVersion((v) => v + 1);
  const history = loaded.data?.history ?? [];
  const forWhom = (s: LedgerSettingView) =>
    s.owner_id === null ? t.everyone : `${s.kind === 'merchant_fee' ? t.merchant : t.trader} ${s.owner_id}`;
  return (
    <section class="adm-card" aria-labelledby="adm-fees-title" data-testid="fees">
      <h3 id="adm-fees-title">{t.feesTitle}</h3>
      <ErrorNote error={loaded.error} testId="fees-error" />
      <dl class="adm-fields adm-fees-now">
        <div class="adm-field">
          <dt>{t.feeNow}</dt>
          <dd class="adm-amount" data-testid="fee-now">
            {loaded.data ? bpsText(t, loaded.data.merchant_fee_bps) : t.none}
          </dd>
        </div>
        <div class="adm-field">
          <dt>{t.rewardNow}</dt>
          <dd class="adm-amount" data-testid="reward-now">
            {loaded.data ? bpsText(t, loaded.data.trader_reward_bps) : t.none}
          </dd>
        </div>
      </dl>
      <p class="adm-hint">{t.feesOverride}</p>
      <div class="adm-columns">
        <BpsForm kind="fee" onDone={changed} />
        <BpsForm kind="reward" onDone={changed} />
      </div>
      <h4>{t.feesHistory}</h4>
      {loaded.data !== null && history.length === 0 ? <p data-testid="fees-history-empty">{t.feesHistoryEmpty}</p> : null}
      {history.length > 0 ? (
        <Table
          label={t.feesHistory}
          stack
          testId="fees-history"
          columns={[{ label: t.colWhen }, { label: t.colKind }, { label: t.colFor }, { label: t.colValue, num: true }]}
        >
          {history.slice(0, 50).map((s, i) => (
            // Changes have no id of their own; the list's order (newest first) is stable per answer.
            <tr key={`${i}-${s.at}`}>
              <td data-label={t.colWhen}>{formatDate(s.at, lang)}</td>
              <td data-label={t.colKind}>{s.kind === 'merchant_fee' ? t.feeTitle : t.rewardTitle}</td>
              <td data-label={t.colFor}>{forWhom(s)}</td>
              <td class="adm-num" data-label={t.colValue}>
                {bpsText(t, Number(s.value))}
              </td>
            </tr>
          ))}
        </Table>
      ) : null}
    </section>
  );
}

/** A merchant's fee or a trader's reward, in basis points; without an owner, the platform default. */
function BpsForm({ kind, onDone }: { kind: 'fee' | 'reward'; onDone: () => void }) {
  const { api, t } = useAdmin();
  const [owner, setOwner] = useState('');
  const [bps, setBps] = useState('');
  const action = useAction();
  const ids = { owner: useId(`adm-${kind}-owner`), bps: useId(`adm-${kind}-bps`) };
  const title = kind === 'fee' ? t.feeTitle : t.rewardTitle;

  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const ownerKey = kind === 'fee' ? 'merchant' : 'trader';
      // The schema wants an integer; the input is validated as one before it becomes a number.
      const points = /^\d{1,5}$/.test(bps.trim()) ? Number(bps.trim()) : bps;
      const s = await api.post<LedgerSettingView>(`/v1/admin/ledger/${kind}`, { bps: points, [ownerKey]: optional(owner) });
      return t.settingSaved(bpsText(t, Number(s.value)));
    });
    if (ok) {
      setBps('');
      onDone();
    }
  };

  return (
    <form class="adm-form" onSubmit={submit} aria-label={title} data-testid={`${kind}-form`}>
      <h4>{title}</h4>
      <label for={ids.owner}>{kind === 'fee' ? t.feeMerchant : t.rewardTrader}</label>
      <input
        id={ids.owner}
        name={kind === 'fee' ? 'merchant' : 'trader'}
        inputMode="numeric"
        value={owner}
        onInput={(e) => setOwner(e.currentTarget.value)}
      />
      <label for={ids.bps}>{t.bps}</label>
      <input
        id={ids.bps}
        name="bps"
        required
        inputMode="numeric"
        pattern="[0-9]{1,5}"
        value={bps}
        onInput={(e) => setBps(e.currentTarget.value)}
      />
      <ErrorNote error={action.error} />
      <OkNote text={action.done} />
      <button type="submit" class="adm-primary" disabled={action.busy}>
        {action.busy ? t.saving : kind === 'fee' ? t.setFee : t.setReward}
      </button>
    </form>
  );
}

type Op = 'deposit' | 'withdraw' | 'payout' | 'adjust';

function Operation({ op, onDone }: { op: Op; onDone: () => void }) {
  const { api, t } = useAdmin();
  const [target, setTarget] = useState('');
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [from, setFrom] = useState<'deposit' | 'rewards'>('deposit');
  const action = useAction();
  const ids = { target: useId(`adm-${op}-t`), amount: useId(`adm-${op}-a`), reason: useId(`adm-${op}-r`), from: useId(`adm-${op}-f`) };
  const title = { deposit: t.deposit, withdraw: t.withdraw, payout: t.payout, adjust: t.adjust }[op];
  const submitText = { deposit: t.submitDeposit, withdraw: t.submitWithdraw, payout: t.submitPayout, adjust: t.submitAdjust }[op];
  const targetKey = op === 'payout' ? 'merchant' : op === 'adjust' ? 'account' : 'trader';
  const targetLabel = op === 'payout' ? t.merchantId : op === 'adjust' ? t.account : t.traderId;

  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const body: Record<string, string | undefined> = { [targetKey]: target.trim(), amount: amount.trim(), reason: optional(reason) };
      if (op === 'withdraw') body.from = from;
      const entry = await api.post<LedgerEntryView>(`/v1/admin/ledger/${op}`, body);
      return t.entryDone(entry.id);
    });
    if (ok) {
      setAmount('');
      setReason('');
      onDone();
    }
  };

  return (
    <form class="adm-card adm-form" onSubmit={submit} aria-label={title} data-testid={`op-${op}`}>
      <h4>{title}</h4>
      <label for={ids.target}>{targetLabel}</label>
      <input
        id={ids.target}
        name={targetKey}
        required
        inputMode={op === 'adjust' ? 'text' : 'numeric'}
        autocomplete="off"
        value={target}
        onInput={(e) => setTarget(e.currentTarget.value)}
      />
      {op === 'withdraw' ? (
        <>
          <label for={ids.from}>{t.withdrawFrom}</label>
          <select id={ids.from} name="from" value={from} onChange={(e) => setFrom(e.currentTarget.value as 'deposit' | 'rewards')}>
            <option value="deposit">{t.fromDeposit}</option>
            <option value="rewards">{t.fromRewards}</option>
          </select>
        </>
      ) : null}
      <label for={ids.amount}>{op === 'adjust' ? t.amountSigned : t.amountSettlement}</label>
      <input
        id={ids.amount}
        name="amount"
        required
        inputMode="decimal"
        maxLength={20}
        autocomplete="off"
        value={amount}
        onInput={(e) => setAmount(e.currentTarget.value)}
      />
      <label for={ids.reason}>{op === 'adjust' ? t.reason : t.reasonOptional}</label>
      <input
        id={ids.reason}
        name="reason"
        required={op === 'adjust'}
        maxLength={LIMITS.reasonChars}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
      />
      <ErrorNote error={action.error} />
      <OkNote text={action.done} testId={`op-${op}-done`} />
      <button type="submit" class="adm-primary" disabled={action.busy}>
        {action.busy ? t.saving : submitText}
      </button>
    </form>
  );
}

const DAY_MS = 86_400_000;
const PERIODS = [7, 30, 90, 365, 'all'] as const;
type Period = (typeof PERIODS)[number];
const DEFAULT_PERIOD: Period = 7;

/**
 * The journal as the server pages it; filtered by one account when asked, and by default only
 * its last week (the whole journal grows without end), widened on request.
 */
function Ledger({ version }: { version: number }) {
  const { api, t, lang } = useAdmin();
  const [draft, setDraft] = useState('');
  const [account, setAccount] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const [days, setDays] = useState<Period>(DEFAULT_PERIOD);
  const id = useId('adm-ledger-acc');
  const periodId = useId('adm-ledger-period');
  const cursor = cursors.at(-1);
  const loaded = useLoad(() => {
    // "The last n days" from the moment of asking: each refetch moves the window along.
    const from = days === 'all' ? undefined : String(Date.now() - days * DAY_MS);
    return api.get<LedgerPageView>('/v1/admin/ledger', {
      account: optional(account),
      from,
      cursor,
      limit: 50,
    });
  }, [account, cursor, version, days]);
  const entries = loaded.data?.entries ?? [];

  return (
    <section class="adm-card" aria-labelledby="adm-ledger-title">
      <h3 id="adm-ledger-title">{t.ledger}</h3>
      <form
        class="adm-form adm-inline-form"
        aria-label={t.ledger}
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([]);
          setAccount(draft.trim());
        }}
      >
        <div class="adm-input">
          <label for={id}>{t.ledgerFilter}</label>
          <input id={id} name="account" autocomplete="off" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
        </div>
        <div class="adm-input">
          <label for={periodId}>{t.ledgerPeriod}</label>
          <select
            id={periodId}
            name="period"
            value={String(days)}
            onChange={(e) => {
              const v = e.currentTarget.value;
              setCursors([]);
              setDays(v === 'all' ? 'all' : (Number(v) as Period));
            }}
            data-testid="ledger-period"
          >
            {PERIODS.map((p) => (
              <option key={p} value={String(p)}>
                {p === 'all' ? t.periodAll : t.periodDays(p)}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">{t.ledgerShow}</button>
      </form>
      <ErrorNote error={loaded.error} />
      {loaded.data === null && loaded.loading ? <p aria-busy="true">{t.loading}</p> : null}
      <p class="adm-hint" data-testid="ledger-shown-period">
        {days === 'all' ? t.ledgerShowsAll : t.ledgerShowsDays(days)}
      </p>
      {loaded.data !== null && entries.length === 0 ? (
        <p data-testid="ledger-empty">{days === 'all' ? t.ledgerEmpty : t.ledgerEmptyPeriod(days)}</p>
      ) : null}
      {entries.length > 0 ? (
        <Table
          label={t.ledger}
          testId="ledger"
          columns={[
            { label: t.colEntry },
            { label: t.colWhen },
            { label: t.colEntryKind },
            { label: t.colInvoice },
            { label: t.colLines },
            { label: t.colMemo },
          ]}
        >
          {entries.map((e) => (
            <tr key={e.id}>
              <td>{e.id}</td>
              <td>{formatDate(e.at, lang)}</td>
              <td>{t.entryKinds[e.kind] ?? e.kind}</td>
              <td>{e.invoice_id ?? t.none}</td>
              <td>
                <ul class="adm-lines">
                  {e.lines.map((l) => (
                    <li key={l.account}>
                      <span class="adm-mono">{l.account}</span> <span class="adm-num">{money(l.amount, e.currency, lang)}</span>
                    </li>
                  ))}
                </ul>
              </td>
              <td class="adm-wrap">{e.memo ?? t.none}</td>
            </tr>
          ))}
        </Table>
      ) : null}
      <div class="adm-row">
        {cursors.length > 0 ? (
          <button type="button" onClick={() => setCursors((c) => c.slice(0, -1))}>
            {t.prevPage}
          </button>
        ) : null}
        {loaded.data?.next_cursor ? (
          <button type="button" onClick={() => setCursors((c) => [...c, loaded.data?.next_cursor ?? ''])}>
            {t.nextPage}
          </button>
        ) : null}
      </div>
    </section>
  );
}
