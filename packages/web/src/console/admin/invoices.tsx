import { isInvoiceId, isUid, STATUSES, type StaffInvoiceList, type StaffInvoiceView, type Status } from '@nltrade/core';
import { useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { ErrorNote, optional, statusLabel, useAdmin, useId, useLoad } from './common.tsx';
import { InvoiceDetail, InvoiceTable } from './detail.tsx';

const PAGE = 50;

interface Filters {
  ref: string;
  merchant: string;
  trader: string;
  status: Status | '';
  from: string;
  to: string;
}

const EMPTY: Filters = { ref: '', merchant: '', trader: '', status: '', from: '', to: '' };

/** A local calendar day's start as an instant the server understands (ISO 8601 with a zone). */
function dayStart(date: string, plusDays = 0): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays).toISOString();
}

type Found = { invoices: StaffInvoiceView[]; more: boolean };

/** Search by UID or number (straight to the invoice), or by merchant, trader, status and dates. */
export function Invoices() {
  const { api, t, lang } = useAdmin();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [pages, setPages] = useState(1);
  const [openRef, setOpenRef] = useState<string | null>(null);
  const resultsHeading = useRef<HTMLHeadingElement>(null);
  const ids = {
    ref: useId('adm-f-ref'),
    refHint: useId('adm-f-ref-hint'),
    merchant: useId('adm-f-merchant'),
    trader: useId('adm-f-trader'),
    status: useId('adm-f-status'),
    from: useId('adm-f-from'),
    to: useId('adm-f-to'),
  };

  const found = useLoad(async (): Promise<Found> => {
    const ref = applied.ref.trim();
    if (ref) {
      if (!isUid(ref) && !isInvoiceId(ref)) return { invoices: [], more: false };
      try {
        return { invoices: [await api.get<StaffInvoiceView>(`/v1/admin/invoices/${encodeURIComponent(ref)}`)], more: false };
      } catch (err) {
        if (err instanceof ApiError && err.httpStatus === 404) return { invoices: [], more: false };
        throw err;
      }
    }
    // Pages are walked by `before` (the last number seen): newer invoices arriving meanwhile
    // never shift what the next page holds.
    const all: StaffInvoiceView[] = [];
    let before: string | undefined;
    let more = false;
    for (let p = 0; p < pages; p++) {
      const { invoices } = await api.get<StaffInvoiceList>('/v1/admin/invoices', {
        status: applied.status || undefined,
        merchant_id: optional(applied.merchant),
        trader_id: optional(applied.trader),
        created_gte: dayStart(applied.from),
        created_lt: dayStart(applied.to, 1),
        limit: PAGE,
        before,
      });
      all.push(...invoices);
      more = invoices.length === PAGE;
      before = invoices.at(-1)?.id;
      if (!more) break;
    }
    return { invoices: all, more };
  }, [applied, pages]);

  if (openRef) return <InvoiceDetail invoiceRef={openRef} onBack={() => setOpenRef(null)} />;

  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    setPages(1);
    setApplied({ ...draft });
    resultsHeading.current?.focus();
  };

  const list = found.data?.invoices ?? [];
  return (
    <section aria-labelledby="adm-invoices-title" data-testid="invoices">
      <h2 id="adm-invoices-title">{t.invoicesTitle}</h2>
      <form class="adm-card adm-form adm-filters" onSubmit={submit} aria-label={t.search} data-testid="invoice-search">
        <div class="adm-input adm-wide">
          <label for={ids.ref}>{t.searchRef}</label>
          <input
            id={ids.ref}
            name="ref"
            value={draft.ref}
            onInput={set('ref')}
            aria-describedby={ids.refHint}
            autocomplete="off"
            spellcheck={false}
            data-testid="filter-ref"
          />
          <small id={ids.refHint} class="adm-hint">
            {t.searchRefHint}
          </small>
        </div>
        <div class="adm-input">
          <label for={ids.merchant}>{t.merchantId}</label>
          <input id={ids.merchant} name="merchant_id" inputMode="numeric" value={draft.merchant} onInput={set('merchant')} />
        </div>
        <div class="adm-input">
          <label for={ids.trader}>{t.traderId}</label>
          <input id={ids.trader} name="trader_id" inputMode="numeric" value={draft.trader} onInput={set('trader')} />
        </div>
        <div class="adm-input">
          <label for={ids.status}>{t.status}</label>
          <select id={ids.status} name="status" value={draft.status} onChange={set('status')} data-testid="filter-status">
            <option value="">{t.anyStatus}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s, lang)}
              </option>
            ))}
          </select>
        </div>
        <div class="adm-input">
          <label for={ids.from}>{t.createdFrom}</label>
          <input id={ids.from} name="created_gte" type="date" value={draft.from} onInput={set('from')} />
        </div>
        <div class="adm-input">
          <label for={ids.to}>{t.createdTo}</label>
          <input id={ids.to} name="created_lt" type="date" value={draft.to} onInput={set('to')} />
        </div>
        <div class="adm-row adm-wide">
          <button type="submit" class="adm-primary" data-testid="filter-submit">
            {t.find}
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setApplied(EMPTY);
              setPages(1);
            }}
          >
            {t.clear}
          </button>
        </div>
      </form>
      <h3 id="adm-results-title" tabIndex={-1} ref={resultsHeading}>
        {t.results}
      </h3>
      <div data-testid="invoice-results" data-loading={found.loading ? 'true' : 'false'} aria-busy={found.loading}>
        <ErrorNote error={found.error} testId="invoices-error" />
        {found.data === null && found.loading ? <p>{t.loading}</p> : null}
        {found.data !== null && list.length === 0 ? <p data-testid="invoices-empty">{t.resultsEmpty}</p> : null}
        {list.length > 0 ? <InvoiceTable invoices={list} caption={t.results} onOpen={setOpenRef} /> : null}
        {found.data?.more ? (
          <button type="button" onClick={() => setPages((p) => p + 1)} disabled={found.loading}>
            {t.loadMore}
          </button>
        ) : null}
      </div>
    </section>
  );
}
