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

/** Shown from the moment the trader changes the amount: the payer must notice and know why. */
export function AmountChanged({ view, locale, t }: { view: CheckoutView; locale: Locale; t: Messages }) {
  if (!view.previousAmount || view.previousAmount === view.amount) return null;
  const was = formatMoney(view.previousAmount, view.currency, locale);
  const now = formatMoney(view.amount, view.currency, locale);
  return (
    <div class="alert alert-warning amount-changed" data-testid="amount-changed">
      <h3 class="alert-title">{t.amountChangedTitle}</h3>
      <p class="amount-compare">
        <del>{was}</del>
        <span aria-hidden="true"> → </span>
        <strong>{now}</strong>
      </p>
      <p>{t.amountChangedText(was, now)}</p>
      <p class="muted">{t.amountChangedWhy}</p>
    </div>
  );
}
