import type { StaffInvoiceList } from '@nltrade/core';
import { useRef, useState } from 'preact/hooks';
import { DISPUTE_STATUSES, ErrorNote, formatDate, money, useAdmin, useLoad } from './common.tsx';
import { InvoiceDetail } from './detail.tsx';

/** The invoices waiting for an administrator's decision, oldest first: they have waited longest. */
export function Disputes() {
  const { api, t, lang } = useAdmin();
  const [openRef, setOpenRef] = useState<string | null>(null);
  const lastOpened = useRef<string | null>(null);
  const list = useLoad(async () => {
    const pages = await Promise.all(
      DISPUTE_STATUSES.map((status) => api.get<StaffInvoiceList>('/v1/admin/invoices', { status, limit: 200 })),
    );
    return pages.flatMap((p) => p.invoices).sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
  }, []);

  if (openRef) {
    return (
      <InvoiceDetail
        invoiceRef={openRef}
        onBack={() => {
          setOpenRef(null);
          // Back where the reader left: the button of the invoice just looked at.
          requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-open="${lastOpened.current}"]`)?.focus());
        }}
      />
    );
  }

  const items = list.data ?? [];
  return (
    <section aria-labelledby="adm-disputes-title" data-testid="disputes">
      <h2 id="adm-disputes-title">{t.disputesTitle}</h2>
      <p class="adm-hint">{t.disputesIntro}</p>
      <ErrorNote error={list.error} />
      {list.data === null && list.loading ? <p aria-busy="true">{t.loading}</p> : null}
      {list.data !== null && items.length === 0 ? <p data-testid="disputes-empty">{t.disputesEmpty}</p> : null}
      {items.length > 0 ? (
        <>
          <p role="status" data-testid="dispute-count">
            {t.disputeCount(items.length)}
          </p>
          <ul class="adm-cards">
            {items.map((i) => (
              <li key={i.id} class="adm-card adm-dispute" data-testid={`dispute-${i.id}`}>
                <div class="adm-dispute-head">
                  <h3>{t.invoiceNo(i.id)}</h3>
                  <strong class="adm-amount">{money(i.amount, i.currency, lang)}</strong>
                </div>
                <p class="adm-wrap">{i.title}</p>
                <dl class="adm-fields adm-fields-inline">
                  <div class="adm-field">
                    <dt>{t.receiveAmount}</dt>
                    <dd data-testid={`dispute-${i.id}-receive`}>{money(i.receiveAmount, i.receiveCurrency, lang)}</dd>
                  </div>
                  <div class="adm-field">
                    <dt>{t.trader}</dt>
                    <dd>{i.traderId ?? t.none}</dd>
                  </div>
                  <div class="adm-field">
                    <dt>{t.merchant}</dt>
                    <dd>{i.merchantId}</dd>
                  </div>
                  <div class="adm-field">
                    <dt>{t.createdAt}</dt>
                    <dd>{formatDate(i.createdAt, lang)}</dd>
                  </div>
                  <div class="adm-field">
                    <dt>{t.traderReason}</dt>
                    <dd class="adm-break">{i.resolution ?? t.none}</dd>
                  </div>
                </dl>
                <button
                  type="button"
                  class="adm-primary"
                  data-open={i.id}
                  aria-label={t.openInvoice(i.id)}
                  onClick={() => {
                    lastOpened.current = i.id;
                    setOpenRef(i.id);
                  }}
                  data-testid={`open-${i.id}`}
                >
                  {t.open}
                </button>
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}
