import { checkoutUid, FAILED_FINAL_STATUSES, FINAL_STATUSES, STATUS_LABELS, SUCCESS_STATUS } from '@nltrade/core';
import type { VNode } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, markPaid } from './api.ts';
import { Icon } from './components/Icon.tsx';
import { AmountChanged, Panel, ReturnLink } from './components/Panels.tsx';
import { PayPanel } from './components/PayPanel.tsx';
import { PhotoUpload } from './components/PhotoUpload.tsx';
import { Steps } from './components/Steps.tsx';
import { formatMoney, isFullCard, sameIp } from './format.ts';
import { detectLocale, LOCALES, MESSAGES, type Messages } from './i18n.ts';
import { type Connection, LiveInvoice } from './live.ts';
import type { CheckoutView, Locale } from './types.ts';

const amountChanged = (view: CheckoutView): boolean => !!view.previousAmount && view.previousAmount !== view.amount;

/**
 * What the head amount is, in words. The trader changes the amount to what actually
 * arrived, so from then on it is paid, not to pay; a canceled invoice was neither.
 */
function amountLabelOf(view: CheckoutView, t: Messages): string {
  if (FAILED_FINAL_STATUSES.has(view.status)) return t.amountInvoice;
  return view.status === SUCCESS_STATUS || amountChanged(view) ? t.amountPaid : t.amountLabel;
}

/** The server's label for a status this page does not know yet, rather than a blank. */
function labelOf(view: CheckoutView, locale: Locale): string {
  return STATUS_LABELS[view.status]?.[locale] ?? view.statusLabel?.[locale] ?? String(view.status);
}

function uidFromPath(): string | null {
  return checkoutUid(location.pathname);
}

/**
 * How long the payment window is. The server says so when it can; otherwise the longest
 * remaining time this tab has seen for this deadline stands in (kept across reloads).
 */
function paymentWindowMs(view: CheckoutView, offset: number): number {
  if (typeof view.paymentTimeoutSeconds === 'number' && view.paymentTimeoutSeconds > 0) return view.paymentTimeoutSeconds * 1000;
  if (!view.deadlineAt) return 0;
  const remaining = Date.parse(view.deadlineAt) - (Date.now() + offset);
  const key = `nltrade:window:${view.uid}:${view.deadlineAt}`;
  let seen = 0;
  try {
    seen = Number(sessionStorage.getItem(key)) || 0;
    if (remaining > seen) sessionStorage.setItem(key, String(Math.round(remaining)));
  } catch {
    // Storage disabled (private mode): this page load's own view is the best we have.
  }
  return Math.max(seen, remaining);
}

export function App() {
  const [locale, setLocale] = useState<Locale>(() => detectLocale(location.search, navigator.languages ?? [navigator.language]));
  const t: Messages = MESSAGES[locale];
  const uid = useMemo(uidFromPath, []);
  const [view, setView] = useState<CheckoutView | null>(null);
  const [viewerIp, setViewerIp] = useState<string | null>(null);
  const [ownerIp, setOwnerIp] = useState<string | null>(null);
  const [offset, setOffset] = useState(0);
  const [conn, setConn] = useState<Connection>('connecting');
  const [fatal, setFatal] = useState<ApiError | null>(uid ? null : new ApiError('INVOICE_NOT_FOUND', 'Bad link', 404));
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const live = useRef<LiveInvoice | null>(null);
  const lastStatus = useRef<string | null>(null);
  const announceTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const announce = useCallback((message: string) => {
    // Clearing first makes screen readers repeat a message identical to the last one.
    setAnnouncement('');
    clearTimeout(announceTimer.current);
    announceTimer.current = setTimeout(() => setAnnouncement(message), 60);
  }, []);

  useEffect(() => {
    if (!uid) return;
    const l = new LiveInvoice(uid, {
      view(v, fromHttp, receivedAt) {
        const serverNow = Date.parse(v.serverTime);
        if (Number.isFinite(serverNow)) setOffset(serverNow - receivedAt);
        if (fromHttp && typeof v.viewerIp === 'string') setViewerIp(v.viewerIp);
        setView(v);
      },
      ownerIp: setOwnerIp,
      connection: setConn,
      fatal: setFatal,
    });
    live.current = l;
    l.start();
    return () => l.stop();
  }, [uid]);

  const taken =
    fatal?.code === 'IP_MISMATCH' || view?.boundTo === 'another' || (ownerIp !== null && viewerIp !== null && !sameIp(ownerIp, viewerIp));
  useEffect(() => {
    if (taken) live.current?.stop();
  }, [taken]);

  useEffect(() => {
    document.documentElement.lang = locale;
    document.title = `${view ? `${view.title} · ` : ''}${t.pageTitle} · NL-Trade`;
  }, [locale, view?.title]);

  useEffect(() => {
    if (!view) return;
    if (lastStatus.current !== null && lastStatus.current !== view.status) {
      setActionError(null);
      announce(`${t.statusNow}: ${labelOf(view, locale)}`);
      // The control that had focus may be gone with the old state; never leave focus on <body>.
      const active = document.activeElement;
      if (!active || active === document.body) document.getElementById('panel-title')?.focus();
    }
    lastStatus.current = view.status;
  }, [view?.status]);

  const switchLocale = (next: Locale) => {
    setLocale(next);
    const url = new URL(location.href);
    url.searchParams.set('lang', next);
    history.replaceState(history.state, '', url);
  };

  const actionFailed = (err: unknown) => {
    const e = err instanceof ApiError ? err : new ApiError('NETWORK', String(err), 0);
    if (e.code === 'IP_MISMATCH') setFatal(e);
    else setActionError(t.errors[e.code] ?? `${t.errorTitle}. ${t.errorGeneric}`);
    if (e.code === 'TRANSITION_REFUSED' || e.code === 'DEADLINE_PASSED') void live.current?.refresh();
  };

  const onPaid = async () => {
    if (!uid || busy) return;
    setBusy(true);
    setActionError(null);
    try {
      live.current?.accept(await markPaid(uid), true);
    } catch (err) {
      actionFailed(err);
    } finally {
      setBusy(false);
    }
  };

  let body: VNode;
  if (taken) {
    body = (
      <Panel title={t.takenTitle} tone="bad" icon="!" testId="taken">
        <p>{t.takenText}</p>
        <ReturnLink url={view?.returnUrl ?? null} t={t} />
      </Panel>
    );
  } else if (fatal) {
    const notFound = fatal.code === 'INVOICE_NOT_FOUND';
    body = (
      <Panel title={notFound ? t.notFoundTitle : t.errorTitle} tone="bad" icon="?" testId="not-found">
        <p>{notFound ? t.notFoundText : t.errorGeneric}</p>
      </Panel>
    );
  } else if (!view) {
    body = (
      <Panel title={t.loading} tone="wait" icon="◌" testId="loading">
        {conn === 'offline' && <p class="muted">{t.conn.offline}</p>}
      </Panel>
    );
  } else {
    body = (
      <StatePanel
        view={view}
        locale={locale}
        t={t}
        uid={uid ?? ''}
        offset={offset}
        busy={busy}
        actionError={actionError}
        onPaid={onPaid}
        announce={announce}
        live={live}
        actionFailed={actionFailed}
      />
    );
  }

  const showInvoice = view && !taken && !fatal;
  return (
    <div class="shell">
      <a class="skip" href="#main">
        {t.skip}
      </a>
      <header class="topbar">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">
            N
          </span>
          <span>
            <span class="brand-name">{t.brand}</span>
            <span class="brand-sub">
              <Icon name="lock" size={13} /> {t.secure}
            </span>
          </span>
        </div>
        <fieldset class="lang">
          <legend class="visually-hidden">{t.language}</legend>
          {LOCALES.map((l) => (
            <button
              key={l}
              type="button"
              class="lang-btn"
              lang={l}
              aria-pressed={l === locale}
              onClick={() => switchLocale(l)}
              data-testid={`lang-${l}`}
            >
              {l === 'uk' ? 'УКР' : 'EN'}
              <span class="visually-hidden">{l === 'uk' ? ' — українська' : ' — English'}</span>
            </button>
          ))}
        </fieldset>
      </header>

      <main id="main" class="card" data-status={view?.status ?? ''} data-testid="checkout">
        {showInvoice && view.sandbox && (
          <p class="sandbox-banner" role="note" data-testid="sandbox">
            <strong>{t.sandboxTitle}</strong> {t.sandboxText}
          </p>
        )}
        {showInvoice && (
          <div class="invoice-head">
            <p class="eyebrow">{t.invoice}</p>
            <h1 class="title" data-testid="title">
              {view.title}
            </h1>
            <p class="amount-label" data-testid="amount-label">
              {amountLabelOf(view, t)}
            </p>
            <p class="amount" data-testid="amount">
              {formatMoney(view.amount, view.currency, locale)}
            </p>
            <Steps status={view.status} t={t} />
            <p class="status-chip" data-testid="status">
              <span class="visually-hidden">{t.statusNow}: </span>
              {labelOf(view, locale)}
            </p>
          </div>
        )}
        {!showInvoice && <h1 class="visually-hidden">{t.pageTitle}</h1>}
        {body}
      </main>

      <footer class="foot">
        {showInvoice && !FINAL_STATUSES.has(view.status) && (
          <p class={`conn is-${conn}`} data-testid="connection">
            <span class="conn-dot" aria-hidden="true" />
            {t.conn[conn]}
          </p>
        )}
        <p class="muted small">{t.footer}</p>
        {uid && <p class="muted small uid">{uid}</p>}
      </footer>
      <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcement}
      </div>
    </div>
  );
}

interface StateProps {
  view: CheckoutView;
  locale: Locale;
  t: Messages;
  uid: string;
  offset: number;
  busy: boolean;
  actionError: string | null;
  onPaid(): void;
  announce(message: string): void;
  live: { current: LiveInvoice | null };
  actionFailed(err: unknown): void;
}

function StatePanel({ view, locale, t, uid, offset, busy, actionError, onPaid, announce, live, actionFailed }: StateProps) {
  const windowMs = useMemo(() => paymentWindowMs(view, offset), [view.deadlineAt, view.paymentTimeoutSeconds]);
  switch (view.status) {
    case 'not approve exchange':
      return (
        <Panel title={t.waitTraderTitle} tone="wait" icon="◌" testId="state-wait-trader">
          <p>{t.waitTraderText}</p>
        </Panel>
      );
    case 'wait card':
      return (
        <Panel title={t.waitCardTitle} tone="wait" icon="◌" testId="state-wait-card">
          <p>{t.waitCardText}</p>
        </Panel>
      );
    case 'send card':
      if (!view.card) {
        return (
          <Panel title={t.waitCardTitle} tone="wait" icon="◌" testId="state-wait-card">
            <p>{t.waitCardText}</p>
          </Panel>
        );
      }
      // A masked card is what a read made before this browser's join gets: it is not a
      // number anyone can pay to, and the whole one follows as soon as the join lands.
      if (!isFullCard(view.card)) {
        return (
          <Panel title={t.bindingTitle} tone="wait" icon="◌" testId="state-binding">
            <p>{t.bindingText}</p>
          </Panel>
        );
      }
      return (
        <div data-testid="state-send-card">
          <AmountChanged view={view} locale={locale} t={t} />
          <PayPanel
            view={view}
            locale={locale}
            t={t}
            offset={offset}
            windowMs={windowMs}
            busy={busy}
            error={actionError}
            onPaid={onPaid}
            announce={announce}
          />
        </div>
      );
    case 'pay':
      return (
        <div data-testid="state-pay">
          <AmountChanged view={view} locale={locale} t={t} />
          <Panel title={t.checkingTitle} tone="wait" icon="◌">
            <p>{t.checkingText}</p>
          </Panel>
        </div>
      );
    case 'waitPhoto':
      if (!view.photoUploaded) {
        return (
          <div data-testid="state-photo">
            <AmountChanged view={view} locale={locale} t={t} />
            <Panel title={t.photoTitle} tone="info" icon="↑">
              <p>{t.photoText}</p>
              <PhotoUpload uid={uid} t={t} announce={announce} onView={(v) => live.current?.accept(v, true)} onError={actionFailed} />
            </Panel>
          </div>
        );
      }
      return <Review view={view} locale={locale} t={t} />;
    case 'notApprove':
      return <Review view={view} locale={locale} t={t} />;
    case 'success':
      return (
        <Panel title={t.successTitle} tone="ok" icon="✓" testId="state-success">
          <p>{t.successText}</p>
          <AmountChanged view={view} locale={locale} t={t} settled />
          <ReturnLink url={view.returnUrl} t={t} />
        </Panel>
      );
    case 'canceled':
    case 'rejected': {
      const rejected = view.status === 'rejected';
      return (
        <Panel title={rejected ? t.rejectedTitle : t.canceledTitle} tone="bad" icon="✕" testId={`state-${view.status}`}>
          <p>{rejected ? t.rejectedText : t.canceledText}</p>
          {view.resolution && (
            <p class="reason" data-testid="reason">
              <strong>{t.reason}:</strong> {view.resolution}
            </p>
          )}
          <p class="muted">{t.paidAnyway}</p>
          <ReturnLink url={view.returnUrl} t={t} />
        </Panel>
      );
    }
    default:
      return <Panel title={labelOf(view, locale)} tone="info" icon="i" />;
  }
}

function Review({ view, locale, t }: { view: CheckoutView; locale: Locale; t: Messages }) {
  return (
    <div data-testid="state-review">
      <AmountChanged view={view} locale={locale} t={t} />
      <Panel title={t.reviewTitle} tone="wait" icon="◌">
        <p>{t.reviewText}</p>
      </Panel>
    </div>
  );
}
