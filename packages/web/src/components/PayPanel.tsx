import { useEffect, useRef, useState } from 'preact/hooks';
import { cardGroups, formatMoney, lastFour } from '../format.ts';
import type { Messages } from '../i18n.ts';
import type { CheckoutView, Locale } from '../types.ts';
import { CopyButton } from './CopyButton.tsx';
import { Countdown } from './Countdown.tsx';

interface Props {
  view: CheckoutView;
  locale: Locale;
  t: Messages;
  offset: number;
  windowMs: number;
  busy: boolean;
  error: string | null;
  onPaid(): void;
  announce(message: string): void;
}

export function PayPanel({ view, locale, t, offset, windowMs, busy, error, onPaid, announce }: Props) {
  const [confirming, setConfirming] = useState(false);
  const confirmHeading = useRef<HTMLHeadingElement>(null);
  const confirmBox = useRef<HTMLDivElement>(null);
  const paidButton = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);

  // Keyboard and screen-reader users land on what just appeared, and back where they were.
  // On a phone the box opens below the fold, where focusing its heading alone would leave
  // the buttons out of sight: the whole box is scrolled into view.
  useEffect(() => {
    if (confirming) {
      confirmHeading.current?.focus({ preventScroll: true });
      const still = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
      confirmBox.current?.scrollIntoView({ block: 'nearest', behavior: still ? 'auto' : 'smooth' });
    } else if (wasConfirming.current) paidButton.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  const card = view.card ?? '';
  const money = formatMoney(view.amount, view.currency, locale);
  const deadline = view.deadlineAt ? Date.parse(view.deadlineAt) : Number.NaN;

  return (
    <section class="panel" aria-labelledby="panel-title">
      <h2 id="panel-title" class="panel-title" tabIndex={-1}>
        {t.payTitle}
      </h2>
      <p class="muted">{t.payIntro}</p>

      <div class="field">
        <span class="field-label" id="card-label">
          {t.cardLabel}
        </span>
        <div class="field-row">
          <output class="card-number" aria-labelledby="card-label" data-testid="card-number">
            {cardGroups(card).join(' ')}
          </output>
          <CopyButton
            text={card}
            label={t.copy}
            ariaLabel={t.copyCard}
            doneLabel={t.copied}
            failedLabel={t.copyFailed}
            announceDone={t.copiedCard}
            announce={announce}
            testId="copy-card"
          />
        </div>
      </div>

      <div class="field">
        <span class="field-label" id="pay-amount-label">
          {t.amountLabel}
        </span>
        <div class="field-row">
          <output class="field-amount" aria-labelledby="pay-amount-label">
            {money}
          </output>
          <CopyButton
            text={view.amount}
            label={t.copy}
            ariaLabel={t.copyAmount}
            doneLabel={t.copied}
            failedLabel={t.copyFailed}
            announceDone={t.copiedAmount}
            announce={announce}
            testId="copy-amount"
          />
        </div>
      </div>

      {Number.isFinite(deadline) && <Countdown deadline={deadline} offset={offset} windowMs={windowMs} t={t} announce={announce} />}

      {error && (
        <p class="alert alert-error" role="alert">
          {error}
        </p>
      )}

      {confirming ? (
        <div class="confirm" data-testid="confirm" ref={confirmBox}>
          <h3 class="confirm-title" tabIndex={-1} ref={confirmHeading}>
            {t.confirmTitle}
          </h3>
          <p>{t.confirmText(money, lastFour(card))}</p>
          <div class="actions">
            <button type="button" class="btn btn-primary" disabled={busy} onClick={onPaid} data-testid="confirm-paid">
              {busy ? t.sending : t.confirmYes}
            </button>
            <button type="button" class="btn btn-secondary" disabled={busy} onClick={() => setConfirming(false)}>
              {t.confirmNo}
            </button>
          </div>
        </div>
      ) : (
        <div class="actions">
          <button type="button" class="btn btn-primary btn-wide" ref={paidButton} onClick={() => setConfirming(true)} data-testid="paid">
            {t.paidButton}
          </button>
        </div>
      )}
    </section>
  );
}
