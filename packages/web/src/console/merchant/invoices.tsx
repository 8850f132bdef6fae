import { findRule, isStatus, type MerchantInvoice, type MerchantInvoiceList, STATUSES } from '@nltrade/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import { debounced } from '../live.ts';
import type { RoleProps } from '../roles.ts';
import { CopyButton, Deadline, dateTime, errorText, money, Notice, StatusBadge, statusLabel } from '../ui.tsx';
import type { MerchantStrings } from './strings.ts';

/** The server gives a path when PUBLIC_URL is unset; the payer needs the whole address. */
export function absoluteLink(url: string): string {
  try {
    return new URL(url, location.origin).toString();
  } catch {
    return url;
  }
}

const PAGE = 50;

/** Invoice numbers are decimal strings that may pass 2^53: compared as text, length first. */
const olderThan = (a: string, b: string) => a.length < b.length || (a.length === b.length && a < b);

export function Invoices({ api, lang, onChange, t, onOpen }: RoleProps & { t: MerchantStrings; onOpen: (uid: string) => void }) {
  const [status, setStatus] = useState('');
  const [rows, setRows] = useState<MerchantInvoice[] | null>(null);
  const [more, setMore] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Once older pages are shown, their cursor is the one to follow, not the newest page's.
  const extended = useRef(false);

  useEffect(() => {
    let current = true;
    extended.current = false;
    // A hint refreshes the newest page; older pages already loaded stay as they were.
    const load = () =>
      api.get<MerchantInvoiceList>('/v1/invoices', { status, limit: PAGE }).then(
        (page) => {
          if (!current) return;
          setRows((old) => {
            const last = page.data.at(-1);
            if (!extended.current || !last) return page.data;
            const fresh = new Set(page.data.map((i) => i.uid));
            return [...page.data, ...(old ?? []).filter((i) => !fresh.has(i.uid) && olderThan(i.id, last.id))];
          });
          if (!extended.current) setMore(page.next_cursor);
          setError(null);
        },
        (err: unknown) => current && setError(err),
      );
    setRows(null);
    void load();
    const refetch = debounced(() => void load());
    const off = onChange(refetch);
    return () => {
      current = false;
      off();
      refetch.cancel();
    };
  }, [status]);

  const loadMore = async () => {
    if (!more) return;
    try {
      const page = await api.get<MerchantInvoiceList>('/v1/invoices', { status, limit: PAGE, starting_after: more });
      extended.current = true;
      setRows((old) => [...(old ?? []), ...page.data]);
      setMore(page.next_cursor);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section class="panel" aria-labelledby="m-invoices-title" data-testid="merchant-invoices">
      <div class="panel-head">
        <h1 id="m-invoices-title">{t.invoicesTitle}</h1>
        <label class="field inline">
          <span>{t.statusFilter}</span>
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">{t.allStatuses}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s, lang)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p class="muted">{t.invoicesIntro}</p>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {rows === null ? (
        <p class="muted">{t.loading}</p>
      ) : rows.length === 0 ? (
        <p class="empty">{t.empty}</p>
      ) : (
        <ul class="rows">
          {rows.map((i) => (
            <li key={i.uid} class="row" data-testid="merchant-invoice" data-uid={i.uid} data-status={i.status}>
              <div class="row-main">
                <p>
                  <button type="button" class="link" onClick={() => onOpen(i.uid)} aria-label={t.open(i.title)}>
                    {i.title}
                  </button>
                </p>
                <p class="muted small">
                  №{i.id} · {dateTime(i.created_at, lang)}
                </p>
              </div>
              <div class="row-side">
                <span class="money">{money(i.amount, i.currency, lang)}</span>
                <StatusBadge status={i.status} lang={lang} />
              </div>
            </li>
          ))}
        </ul>
      )}
      {more && (
        <button type="button" class="btn" onClick={loadMore}>
          {t.loadMore}
        </button>
      )}
    </section>
  );
}

export function InvoiceDetail({
  api,
  lang,
  onChange,
  t,
  uid,
  onBack,
}: RoleProps & { t: MerchantStrings; uid: string; onBack: () => void }) {
  const [inv, setInv] = useState<MerchantInvoice | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const headRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let current = true;
    const load = () =>
      api.get<MerchantInvoice>(`/v1/invoices/${encodeURIComponent(uid)}`).then(
        (v) => {
          if (!current) return;
          setInv(v);
          setError(null);
        },
        (err: unknown) => current && setError(err),
      );
    void load();
    const refetch = debounced(() => void load());
    const off = onChange((hint) => {
      if (!hint || hint.id === inv?.id || !inv) refetch();
    });
    return () => {
      current = false;
      off();
      refetch.cancel();
    };
  }, [uid, inv?.id]);

  useEffect(() => headRef.current?.focus(), []);

  const cancel = async () => {
    setBusy(true);
    setError(null);
    try {
      setInv(await api.post<MerchantInvoice>(`/v1/invoices/${encodeURIComponent(uid)}/cancel`, {}));
      setDone(true);
      setAsking(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  // Whether a merchant may cancel now is the transition table's answer, not this page's.
  const cancellable = inv && isStatus(inv.status) && findRule(inv.status, 'remove', 'merchant') !== undefined;
  const link = inv ? absoluteLink(inv.checkout_url) : '';
  return (
    <section class="panel" aria-labelledby="m-detail-title" data-testid="merchant-detail" data-status={inv?.status ?? ''}>
      <button type="button" class="btn btn-small" onClick={onBack}>
        ← {t.back}
      </button>
      <h1 id="m-detail-title" tabIndex={-1} ref={headRef}>
        {inv ? inv.title : t.loading}
      </h1>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {done && <Notice kind="ok">{t.canceled}</Notice>}
      {inv && (
        <>
          <p class="detail-status">
            <span class="muted">{t.invoiceNo(inv.id)}</span> <StatusBadge status={inv.status} lang={lang} />
          </p>
          {inv.sandbox && <Notice kind="info">{t.sandbox}</Notice>}
          <dl class="facts wide">
            <div>
              <dt>{t.amount}</dt>
              <dd class="money" data-testid="detail-amount">
                {money(inv.amount, inv.currency, lang)}
              </dd>
            </div>
            {inv.previous_amount && (
              <div>
                <dt>{t.previousAmount}</dt>
                <dd class="money">{money(inv.previous_amount, inv.currency, lang)}</dd>
              </div>
            )}
            <div>
              <dt>{t.receive}</dt>
              <dd class="money">{inv.receive_amount}</dd>
            </div>
            <div>
              <dt>{t.rate}</dt>
              <dd>{inv.rate}</dd>
            </div>
            <div>
              <dt>{t.created}</dt>
              <dd>{dateTime(inv.created_at, lang)}</dd>
            </div>
            <div>
              <dt>{t.updated}</dt>
              <dd>{dateTime(inv.updated_at, lang)}</dd>
            </div>
            <div>
              <dt>{t.paidAt}</dt>
              <dd>{dateTime(inv.paid_at, lang)}</dd>
            </div>
            <div>
              <dt>{t.payerOpened}</dt>
              <dd>{inv.payer_bound ? t.yes : t.no}</dd>
            </div>
            {inv.resolution && (
              <div>
                <dt>{t.resolution}</dt>
                <dd>{inv.resolution}</dd>
              </div>
            )}
          </dl>
          {inv.deadline_at && <Deadline at={inv.deadline_at} lang={lang} label={t.deadline} />}
          <div class="link-box">
            <label class="field">
              <span>{t.checkoutLink}</span>
              <input readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
            </label>
            <CopyButton text={link} label={t.copyLink} lang={lang} />
          </div>
          {cancellable &&
            (asking ? (
              <section class="confirm-box" aria-label={t.cancel}>
                <p>{t.cancelAsk}</p>
                <div class="row-actions">
                  <button type="button" class="btn btn-danger" disabled={busy} onClick={cancel} data-testid="cancel-sure">
                    {t.cancelSure}
                  </button>
                  <button type="button" class="btn" onClick={() => setAsking(false)}>
                    {t.cancelKeep}
                  </button>
                </div>
              </section>
            ) : (
              <button type="button" class="btn btn-danger" onClick={() => setAsking(true)} data-testid="cancel">
                {t.cancel}
              </button>
            ))}
          <h2>{t.history}</h2>
          <ol class="timeline" data-testid="history">
            {(inv.history ?? []).map((h, n) => (
              <li key={`${h.at}-${n}`}>
                <p>
                  <StatusBadge status={h.status} lang={lang} /> <span class="muted small">{dateTime(h.at, lang)}</span>
                </p>
                <p>{t.actions[h.action] ?? h.action}</p>
                {/* The server's own history line, as it keeps it (in Ukrainian). */}
                <p class="muted small" lang="uk">
                  {h.note}
                </p>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
