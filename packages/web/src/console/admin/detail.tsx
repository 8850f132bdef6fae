import { LIMITS, type StaffHistoryLine, type StaffInvoiceView, type Status } from '@nltrade/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  actorText,
  adminMayCancel,
  DECISIONS,
  ErrorNote,
  formatDate,
  isDispute,
  money,
  OkNote,
  StatusBadge,
  statusLabel,
  Table,
  TRADER_REASON_STATUSES,
  useAction,
  useAdmin,
  useId,
  useLoad,
} from './common.tsx';
import { ReceiptPhoto } from './photo.tsx';

/** The administrator's invoice; one read by its reference carries its history. */
export type AdminInvoice = StaffInvoiceView;

/** One invoice with everything needed to judge it, and what the administrator may do to it now. */
export function InvoiceDetail({ invoiceRef, onBack }: { invoiceRef: string; onBack: () => void }) {
  const { api, t, lang } = useAdmin();
  const heading = useRef<HTMLHeadingElement>(null);
  const loaded = useLoad(() => api.get<AdminInvoice>(`/v1/admin/invoices/${encodeURIComponent(invoiceRef)}`), [invoiceRef]);
  const inv = loaded.data;
  // Said above the forms, which go away once the action has made them pointless.
  const [notice, setNotice] = useState<string | null>(null);
  const acted = (message: string) => {
    setNotice(message);
    loaded.reload();
  };
  // Focus follows the reader into the detail, so a screen reader starts at its heading.
  useEffect(() => heading.current?.focus(), [inv !== null]);

  const row = (label: string, value: string | null | undefined, testId?: string, mono = false) => (
    <div class="adm-field">
      <dt>{label}</dt>
      <dd data-testid={testId} class={mono ? 'adm-mono adm-break' : undefined}>
        {value ?? t.none}
      </dd>
    </div>
  );

  return (
    <section class="adm-detail" aria-labelledby="adm-detail-title" data-testid="invoice-detail">
      <button type="button" class="adm-link-button" onClick={onBack} data-testid="detail-back">
        <span aria-hidden="true">← </span>
        {t.back}
      </button>
      <h2 id="adm-detail-title" tabIndex={-1} ref={heading}>
        {t.invoiceNo(inv?.id ?? invoiceRef)}
      </h2>
      <ErrorNote error={loaded.error} testId="detail-error" />
      {!inv ? (
        loaded.loading ? (
          <p aria-busy="true">{t.loading}</p>
        ) : null
      ) : (
        <>
          <OkNote text={notice} testId="detail-done" />
          <p class="adm-detail-status" data-testid="detail-status">
            <span>{t.status}: </span>
            <StatusBadge status={inv.status} label={inv.statusLabel} />
            {inv.sandbox ? <span class="adm-badge adm-badge-info">{t.sandbox}</span> : null}
          </p>
          <div class="adm-detail-grid">
            <div class="adm-card">
              <dl class="adm-fields">
                {row(t.title, inv.title, 'detail-title')}
                {row(t.amount, money(inv.amount, inv.currency, lang), 'detail-amount')}
                {inv.previousAmount ? row(t.previousAmount, money(inv.previousAmount, inv.currency, lang)) : null}
                {row(t.receiveAmount, money(inv.receiveAmount, inv.receiveCurrency, lang), 'detail-receive')}
                {row(t.rate, t.rateValue(inv.rate, inv.receiveCurrency), 'detail-rate')}
                {row(t.uid, inv.uid, 'detail-uid', true)}
                {row(t.merchant, inv.merchantId)}
                {row(t.trader, inv.traderId)}
                {row(t.card, inv.card, undefined, true)}
                {row(t.payerIp, inv.ip, undefined, true)}
                {row(t.createdAt, formatDate(inv.createdAt, lang))}
                {row(t.acceptedAt, formatDate(inv.acceptedAt, lang))}
                {row(t.paidAt, formatDate(inv.paidAt, lang))}
                {inv.deadlineAt ? row(t.deadlineAt, formatDate(inv.deadlineAt, lang)) : null}
              </dl>
            </div>
            <div class="adm-card">
              <h3>{TRADER_REASON_STATUSES.has(inv.status) ? t.traderReason : t.resolution}</h3>
              <p data-testid="detail-reason" class="adm-break">
                {inv.resolution ?? (TRADER_REASON_STATUSES.has(inv.status) ? t.noTraderReason : t.none)}
              </p>
              <h3>{t.photo}</h3>
              <ReceiptPhoto invoiceId={inv.id} url={inv.approvePhoto} hosted={inv.approvePhotoHosted} />
            </div>
          </div>
          {isDispute(inv.status) ? (
            <DecideForm invoice={inv} onDone={acted} />
          ) : adminMayCancel(inv.status) ? (
            <CancelForm invoice={inv} onDone={acted} />
          ) : null}
          <History lines={inv.history} />
        </>
      )}
    </section>
  );
}

/** The invoice's event log, oldest first: when, into which status, by what step, who took it, and the note. */
function History({ lines }: { lines: readonly StaffHistoryLine[] | undefined }) {
  const { t, lang } = useAdmin();
  return (
    <section class="adm-card" aria-labelledby="adm-history-title">
      <h3 id="adm-history-title">{t.history}</h3>
      {!lines ? (
        <p class="adm-hint">{t.historyMissing}</p>
      ) : lines.length === 0 ? (
        <p>{t.historyEmpty}</p>
      ) : (
        <ol class="adm-history" data-testid="history">
          {lines.map((l) => (
            // A version is one change of this invoice: unique within its history.
            <li key={l.version} data-action={l.action} data-testid={`history-${l.version}`}>
              <time dateTime={l.at}>{formatDate(l.at, lang)}</time>
              <StatusBadge status={l.status} />
              <span class="adm-history-what">
                <strong>{t.historyActions[l.action] ?? l.action}</strong>
                <span class="adm-sr">, </span>
                <span class="adm-history-who">
                  {t.historyWho}: {actorText(t, l.actor_type, l.actor_id)}
                </span>
              </span>
              {l.note ? <span class="adm-history-note adm-break">{l.note}</span> : null}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function decisionText(status: Status, t: ReturnType<typeof useAdmin>['t'], lang: 'uk' | 'en'): string {
  if (status === 'success') return t.decideSuccess;
  if (status === 'canceled') return t.decideCanceled;
  return statusLabel(status, lang);
}

function DecideForm({ invoice, onDone }: { invoice: AdminInvoice; onDone: (message: string) => void }) {
  const { api, t, lang } = useAdmin();
  const [decision, setDecision] = useState<Status | null>(null);
  const [reason, setReason] = useState('');
  const action = useAction();
  const reasonId = useId('adm-reason');
  const hintId = useId('adm-reason-hint');

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!decision || !reason.trim()) return;
    const ok = await action.run(async () => {
      await api.post(`/v1/admin/invoices/${encodeURIComponent(invoice.id)}/decide`, { decision, reason: reason.trim() });
      return t.decided;
    });
    if (ok) onDone(t.decided);
  };

  return (
    <form class="adm-card adm-form" onSubmit={submit} aria-labelledby="adm-decide-title" data-testid="decide-form">
      <h3 id="adm-decide-title">{t.decideTitle}</h3>
      <fieldset>
        <legend>{t.decision}</legend>
        {DECISIONS.map((d) => (
          <label key={d} class="adm-choice">
            <input
              type="radio"
              name="decision"
              value={d}
              checked={decision === d}
              required
              onChange={() => setDecision(d)}
              data-testid={`decide-${d}`}
            />
            <span>{decisionText(d, t, lang)}</span>
          </label>
        ))}
      </fieldset>
      <label for={reasonId}>{t.reason}</label>
      <textarea
        id={reasonId}
        name="reason"
        required
        maxLength={LIMITS.reasonChars}
        rows={3}
        aria-describedby={hintId}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
        data-testid="decide-reason"
      />
      <p id={hintId} class="adm-hint">
        {t.reasonHint}
      </p>
      <ErrorNote error={action.error} testId="decide-error" />
      <button type="submit" class="adm-primary" disabled={action.busy} data-testid="decide-submit">
        {action.busy ? t.saving : t.decideSubmit}
      </button>
    </form>
  );
}

function CancelForm({ invoice, onDone }: { invoice: AdminInvoice; onDone: (message: string) => void }) {
  const { api, t } = useAdmin();
  const [armed, setArmed] = useState(false);
  const [reason, setReason] = useState('');
  const action = useAction();
  const reasonId = useId('adm-cancel-reason');

  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const body = reason.trim() ? { reason: reason.trim() } : {};
      await api.post(`/v1/admin/invoices/${encodeURIComponent(invoice.id)}/cancel`, body);
      return t.canceled;
    });
    if (ok) {
      setArmed(false);
      onDone(t.canceled);
    }
  };

  return (
    <section class="adm-card" aria-labelledby="adm-cancel-title">
      <h3 id="adm-cancel-title">{t.cancelTitle}</h3>
      {!armed ? (
        <button type="button" class="adm-danger" onClick={() => setArmed(true)} data-testid="cancel-open">
          {t.cancelSubmit}
        </button>
      ) : (
        <form class="adm-form" onSubmit={submit}>
          <label for={reasonId}>{t.optionalReason}</label>
          <textarea
            id={reasonId}
            name="reason"
            rows={2}
            maxLength={LIMITS.reasonChars}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
          <ErrorNote error={action.error} />
          <div class="adm-row">
            <button type="submit" class="adm-danger" disabled={action.busy} data-testid="cancel-confirm">
              {action.busy ? t.saving : t.cancelConfirm}
            </button>
            <button type="button" onClick={() => setArmed(false)}>
              {t.cancel}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

/** A list of invoices as a table: number, title, amount, status, parties, creation time. */
export function InvoiceTable({
  invoices,
  caption,
  onOpen,
}: {
  invoices: readonly StaffInvoiceView[];
  caption: string;
  onOpen: (id: string) => void;
}) {
  const { t, lang } = useAdmin();
  return (
    <Table
      label={caption}
      stack
      testId="invoice-table"
      columns={[
        { label: t.colNo },
        { label: t.colTitle },
        { label: t.colAmount, num: true },
        { label: t.colStatus },
        { label: t.colMerchant },
        { label: t.colTrader },
        { label: t.colCreated },
      ]}
    >
      {invoices.map((i) => (
        <tr key={i.id} data-testid={`invoice-row-${i.id}`}>
          <td>
            <button type="button" class="adm-link-button" onClick={() => onOpen(i.id)}>
              {/* The name says what the button does; the eye sees the number it is on. */}
              <span class="adm-sr">{t.openInvoiceSr} </span>
              {t.numberSign(i.id)}
            </button>
          </td>
          <td class="adm-wrap" data-label={t.colTitle}>
            {i.title}
          </td>
          <td class="adm-num" data-label={t.colAmount}>
            {money(i.amount, i.currency, lang)}
          </td>
          <td data-label={t.colStatus}>
            <StatusBadge status={i.status} label={i.statusLabel} />
          </td>
          <td data-label={t.colMerchant}>{i.merchantId}</td>
          <td data-label={t.colTrader}>{i.traderId ?? t.none}</td>
          <td data-label={t.colCreated}>{formatDate(i.createdAt, lang)}</td>
        </tr>
      ))}
    </Table>
  );
}
