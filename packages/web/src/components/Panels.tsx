import type { ComponentChildren } from 'preact';
import { formatMoney, safeUrl } from '../format.ts';
import type { Messages } from '../i18n.ts';
import type { CheckoutView, Locale } from '../types.ts';

export function Panel(props: {
  title: string;
  tone?: 'wait' | 'ok' | 'bad' | 'info';
  icon?: string;
  testId?: string;
  children?: ComponentChildren;
}) {
  const tone = props.tone ?? 'info';
  return (
    <section class={`panel tone-${tone}`} aria-labelledby="panel-title" data-testid={props.testId}>
      <div class="panel-head">
        <span class={`panel-icon${tone === 'wait' ? ' is-spinning' : ''}`} aria-hidden="true">
          {props.icon ?? ''}
        </span>
        <h2 id="panel-title" class="panel-title" tabIndex={-1}>
          {props.title}
        </h2>
      </div>
      {props.children}
    </section>
  );
}

export function ReturnLink({ url, t }: { url: string | null; t: Messages }) {
  const safe = safeUrl(url);
  if (!safe) return null;
  return (
    <p class="actions">
      <a class="btn btn-primary btn-wide" href={safe} rel="noopener noreferrer" data-testid="return-link">
        {t.returnLink}
      </a>
    </p>
  );
}

/**
 * Shown from the moment the trader changes the amount: the payer must notice and know why.
 * The new amount is the head's; this names only the old one, so neither is said twice.
 */
export function AmountChanged({ view, locale, t, settled }: { view: CheckoutView; locale: Locale; t: Messages; settled?: boolean }) {
  if (!view.previousAmount || view.previousAmount === view.amount) return null;
  return (
    <div class={`alert ${settled ? 'alert-note' : 'alert-warning'} amount-changed`} data-testid="amount-changed">
      <h3 class="alert-title">{t.amountChangedTitle}</h3>
      <p>{t.amountChangedText(formatMoney(view.previousAmount, view.currency, locale))}</p>
      <p class="muted">{t.amountChangedWhy}</p>
    </div>
  );
}
