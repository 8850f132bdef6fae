import {
  LIMITS,
  type MerchantBalanceView,
  type MerchantInvoice,
  type MerchantProfile,
  type PayoutPageView,
  type PayoutView,
} from '@nltrade/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import { debounced } from '../live.ts';
import { pick, type RoleProps } from '../roles.ts';
import { CopyButton, errorText, idempotencyKey, money, Notice, SubNav } from '../ui.tsx';
import { Integration, loadProfile } from './integration.tsx';
import { absoluteLink, InvoiceDetail, Invoices } from './invoices.tsx';
import { MERCHANT_STRINGS, type MerchantStrings } from './strings.ts';
import { Webhooks } from './webhooks.tsx';

type Tab = 'invoices' | 'new' | 'balance' | 'webhooks' | 'integration';

export default function MerchantApp(props: RoleProps) {
  const { api, lang, onChange } = props;
  const t = pick(lang, MERCHANT_STRINGS);
  const [tab, setTab] = useState<Tab>('invoices');
  const [open, setOpen] = useState<string | null>(null);
  const [profile, setProfile] = useState<MerchantProfile | null>(null);

  // The header's sandbox badge needs it on every tab; the Integration tab shares the same copy.
  useEffect(() => {
    loadProfile(api).then(setProfile, () => {
      // The badge stays hidden; the Integration tab asks again and shows the error.
    });
  }, []);

  const select = (next: Tab) => {
    setTab(next);
    setOpen(null);
  };
  const showInvoice = (uid: string) => {
    setTab('invoices');
    setOpen(uid);
  };

  return (
    <div class="role merchant" data-testid="merchant">
      {profile && (
        <p class="detail-status" data-testid="merchant-head">
          <strong>{profile.name}</strong>
          <span class={`badge ${profile.sandbox ? 'is-wait' : 'is-ok'}`} data-testid="sandbox-badge" data-sandbox={String(profile.sandbox)}>
            {profile.sandbox ? t.modeSandbox : t.modeLive}
          </span>
        </p>
      )}
      <SubNav
        label={t.sections}
        current={tab}
        onSelect={select}
        items={[
          { key: 'invoices', label: t.tabInvoices },
          { key: 'new', label: t.tabNew },
          { key: 'balance', label: t.tabBalance },
          { key: 'webhooks', label: t.tabWebhooks },
          { key: 'integration', label: t.tabIntegration },
        ]}
      />
      {tab === 'invoices' &&
        (open ? (
          <InvoiceDetail {...props} t={t} uid={open} onBack={() => setOpen(null)} />
        ) : (
          <Invoices {...props} t={t} onOpen={setOpen} />
        ))}
      {tab === 'new' && <CreateInvoice {...props} t={t} onShow={showInvoice} />}
      {tab === 'balance' && <Balance api={api} lang={lang} t={t} onChange={onChange} />}
      {tab === 'webhooks' && <Webhooks api={api} lang={lang} t={t} />}
      {tab === 'integration' && <Integration api={api} lang={lang} t={t} profile={profile} onProfile={setProfile} />}
    </div>
  );
}

function Balance({ api, lang, t, onChange }: Pick<RoleProps, 'api' | 'lang' | 'onChange'> & { t: MerchantStrings }) {
  const [balance, setBalance] = useState<MerchantBalanceView | null>(null);
  const [payouts, setPayouts] = useState<PayoutView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const load = () =>
      Promise.all([api.get<MerchantBalanceView>('/v1/balance'), api.get<PayoutPageView>('/v1/balance/payouts', { limit: 200 })]).then(
        ([b, p]) => {
          setBalance(b);
          // Newest first: the list answers oldest first, a page at a time.
          setPayouts([...p.data].reverse());
          setError(null);
        },
        setError,
      );
    void load();
    // An invoice's success is what moves the balance: each hint may be one.
    const refetch = debounced(() => void load(), 400);
    const off = onChange(refetch);
    return () => {
      off();
      refetch.cancel();
    };
  }, []);
  return (
    <section class="panel" aria-labelledby="m-balance-title" data-testid="merchant-balance">
      <h1 id="m-balance-title">{t.balanceTitle}</h1>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {balance ? (
        <dl class="figures">
          <div class="figure" data-testid="balance-available">
            <dt>
              {t.available}
              <span class="hint">{t.availableHint}</span>
            </dt>
            <dd class="money">{money(balance.available, balance.currency, lang)}</dd>
          </div>
          <div class="figure" data-testid="balance-paid-out">
            <dt>
              {t.paidOut}
              <span class="hint">{t.paidOutHint}</span>
            </dt>
            <dd class="money">{money(balance.paid_out, balance.currency, lang)}</dd>
          </div>
        </dl>
      ) : (
        <p class="muted">{t.loading}</p>
      )}
      {payouts && (
        <section class="stack sub" aria-labelledby="m-payouts-title" data-testid="payouts">
          <h2 id="m-payouts-title">{t.payoutsTitle}</h2>
          {payouts.length === 0 ? (
            <p class="muted">{t.payoutsNone}</p>
          ) : (
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">{t.payoutWhen}</th>
                  <th scope="col">{t.payoutAmount}</th>
                  <th scope="col">{t.payoutMemo}</th>
                </tr>
              </thead>
              <tbody>
                {payouts.map((p) => (
                  <tr key={p.id} data-testid="payout-row">
                    <td data-label={t.payoutWhen}>{new Date(p.at).toLocaleString(lang === 'uk' ? 'uk-UA' : 'en-GB')}</td>
                    <td data-label={t.payoutAmount} class="money">
                      {money(p.amount, p.currency, lang)}
                    </td>
                    <td data-label={t.payoutMemo}>{p.memo ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </section>
  );
}

function CreateInvoice({ api, lang, t, onShow }: RoleProps & { t: MerchantStrings; onShow: (uid: string) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<MerchantInvoice | null>(null);
  // One key per invoice being made: a double submit or a retry after a lost answer is the same invoice.
  const key = useRef(idempotencyKey());
  const resultRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (created) resultRef.current?.focus();
  }, [created]);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const text = (k: string) => String(data.get(k) ?? '').trim();
    const body: Record<string, unknown> = { title: text('title'), amount: text('amount').replace(',', '.') };
    const minutes = text('timeout');
    if (minutes) body.payment_timeout = Math.round(Number(minutes) * 60);
    if (text('return_url')) body.return_url = text('return_url');
    setBusy(true);
    setError(null);
    try {
      setCreated(await api.post<MerchantInvoice>('/v1/invoices', body, { 'idempotency-key': key.current }));
      key.current = idempotencyKey();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    const link = absoluteLink(created.checkout_url);
    return (
      <section class="panel" aria-labelledby="created-title" data-testid="invoice-created">
        <h1 id="created-title" tabIndex={-1} ref={resultRef}>
          {t.created_}
        </h1>
        <p>{t.createdText}</p>
        <div class="link-box">
          <label class="field">
            <span>{t.checkoutLink}</span>
            <input readOnly value={link} data-testid="checkout-link" onFocus={(e) => e.currentTarget.select()} />
          </label>
          <CopyButton text={link} label={t.copyLink} lang={lang} testId="copy-link" />
        </div>
        <div class="row-actions">
          <button type="button" class="btn" onClick={() => onShow(created.uid)}>
            {t.showInvoice}
          </button>
          <button type="button" class="btn" onClick={() => setCreated(null)}>
            {t.another}
          </button>
        </div>
      </section>
    );
  }

  return (
    <form class="panel stack" onSubmit={onSubmit} aria-labelledby="new-title" data-testid="new-invoice">
      <h1 id="new-title">{t.newTitle}</h1>
      <p class="muted">{t.newIntro}</p>
      <label class="field">
        <span>{t.title}</span>
        <input name="title" required maxLength={LIMITS.titleChars} aria-describedby="new-title-hint" />
      </label>
      <p class="hint" id="new-title-hint">
        {t.newTitleHint}
      </p>
      <label class="field">
        <span>{t.amount}</span>
        <input name="amount" required inputMode="decimal" pattern="[0-9]+([.,][0-9]{1,2})?" aria-describedby="new-amount-hint" />
      </label>
      <p class="hint" id="new-amount-hint">
        {t.newAmountHint}
      </p>
      <label class="field">
        <span>{t.timeout}</span>
        <input name="timeout" type="number" min={1} max={1440} step={1} aria-describedby="new-timeout-hint" />
      </label>
      <p class="hint" id="new-timeout-hint">
        {t.timeoutHint}
      </p>
      <label class="field">
        <span>{t.returnUrl}</span>
        <input name="return_url" type="url" maxLength={LIMITS.returnUrlChars} aria-describedby="new-return-hint" />
      </label>
      <p class="hint" id="new-return-hint">
        {t.returnUrlHint}
      </p>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      <button type="submit" class="btn btn-primary" disabled={busy} data-testid="create-submit">
        {busy ? t.creating : t.create}
      </button>
    </form>
  );
}
