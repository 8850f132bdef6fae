import { STATUSES, type StaffInvoiceList, type StaffInvoiceView, type TraderBalanceView } from '@nltrade/core';
import { useEffect, useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import { debounced } from '../live.ts';
import type { ConsoleLang, RoleProps } from '../roles.ts';
import { dateTime, decimalOf, errorText, minorOf, money, Notice, StatusBadge, statusLabel } from '../ui.tsx';
import type { TraderStrings } from './strings.ts';

export function Balance({ balance, lang, t }: { balance: TraderBalanceView | null; lang: ConsoleLang; t: TraderStrings }) {
  if (!balance) return <p class="muted">{t.loading}</p>;
  const figures = [
    { key: 'available', label: t.available, hint: t.availableHint, value: balance.available },
    { key: 'held', label: t.held, hint: t.heldHint, value: balance.held },
    { key: 'deposit', label: t.deposit, hint: t.depositHint, value: balance.deposit },
    { key: 'rewards', label: t.rewards, hint: t.rewardsHint, value: balance.rewards },
  ];
  return (
    <section class="panel" aria-labelledby="balance-title" data-testid="balance">
      <h1 id="balance-title">{t.balanceTitle}</h1>
      <dl class="figures">
        {figures.map((f) => (
          <div key={f.key} class="figure" data-testid={`balance-${f.key}`}>
            <dt>
              {f.label}
              <span class="hint">{f.hint}</span>
            </dt>
            <dd class="money">{money(f.value, balance.currency, lang)}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

const LIMIT = 200;

/** The trader's own invoices, any status, with what they add up to (sums in integer minor units). */
export function History({
  api,
  me,
  lang,
  t,
  currency,
  onChange,
}: {
  api: ConsoleApi;
  me: string;
  lang: ConsoleLang;
  t: TraderStrings;
  currency: string;
  onChange: RoleProps['onChange'];
}) {
  const [status, setStatus] = useState('');
  const [rows, setRows] = useState<StaffInvoiceView[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let current = true;
    const load = () =>
      api.get<StaffInvoiceList>('/v1/trader/invoices', { status, limit: LIMIT }).then(
        (r) => {
          if (!current) return;
          // The list also offers the open queue; history is only what this trader took.
          setRows(r.invoices.filter((i) => i.traderId === me));
          setError(null);
        },
        (err: unknown) => current && setError(err),
      );
    void load();
    const refetch = debounced(() => void load(), 500);
    const off = onChange(refetch);
    return () => {
      current = false;
      off();
      refetch.cancel();
    };
  }, [status]);

  const sum = (pick: (i: StaffInvoiceView) => string) => decimalOf((rows ?? []).reduce((acc, i) => acc + (minorOf(pick(i)) ?? 0), 0));

  return (
    <section class="panel" aria-labelledby="history-title" data-testid="history">
      <div class="panel-head">
        <h1 id="history-title">{t.historyTitle}</h1>
        <label class="field inline">
          <span>{t.statusFilter}</span>
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)} data-testid="history-status">
            <option value="">{t.allStatuses}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s, lang)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {rows === null ? (
        <p class="muted">{t.loading}</p>
      ) : (
        <>
          <dl class="figures totals" aria-label={t.totals} data-testid="history-totals">
            <div class="figure">
              <dt>{t.totalCount}</dt>
              <dd>{rows.length}</dd>
            </div>
            <div class="figure">
              <dt>{t.totalAmount}</dt>
              <dd class="money">
                {money(
                  sum((i) => i.amount),
                  'UAH',
                  lang,
                )}
              </dd>
            </div>
            <div class="figure">
              <dt>{t.totalReceive}</dt>
              <dd class="money">
                {currency
                  ? money(
                      sum((i) => i.receiveAmount),
                      currency,
                      lang,
                    )
                  : sum((i) => i.receiveAmount)}
              </dd>
            </div>
          </dl>
          {rows.length === LIMIT && <p class="hint">{t.historyLimit(LIMIT)}</p>}
          {rows.length === 0 ? (
            <p class="empty">{t.historyEmpty}</p>
          ) : (
            <div class="table-wrap">
              <table class="table" data-testid="history-table">
                <thead>
                  <tr>
                    <th scope="col">№</th>
                    <th scope="col">{t.created}</th>
                    <th scope="col">{t.statusFilter}</th>
                    <th scope="col" class="num">
                      {t.amount}
                    </th>
                    <th scope="col" class="num">
                      {t.receive}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((i) => (
                    <tr key={i.id} data-testid="history-row" data-status={i.status}>
                      <td data-label="№">{i.id}</td>
                      <td data-label={t.created}>{dateTime(i.createdAt, lang)}</td>
                      <td data-label={t.statusFilter}>
                        <StatusBadge status={i.status} lang={lang} />
                      </td>
                      <td class="num" data-label={t.amount}>
                        {money(i.amount, i.currency, lang)}
                      </td>
                      <td class="num" data-label={t.receive}>
                        {currency ? money(i.receiveAmount, currency, lang) : i.receiveAmount}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
