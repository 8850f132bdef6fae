import { FAILED_FINAL_STATUSES, isStatus, STATUS_LABELS, SUCCESS_STATUS } from '@nltrade/core';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { copyText } from '../clipboard.ts';
import { ApiError } from './api.ts';
import { type ConsoleLang, pick } from './roles.ts';

/*
 * Pieces every console screen shares. Amounts stay decimal strings end to end: they are
 * formatted and summed as text and integer minor units, never as floats.
 */

/** "-1500.5" → minor units as an integer (-150050); null for anything that is not a decimal. */
export function minorOf(amount: string): number | null {
  const m = /^(-?)(\d{1,13})(?:\.(\d{1,2}))?$/.exec(amount.trim());
  if (!m) return null;
  const minor = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] === '-' ? -minor : minor;
}

/** Minor units back to "1500.50". */
export function decimalOf(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** "1500.50" → "1 500,50 грн" / "UAH 1,500.50" (USDT and other codes: "1 500,50 USDT"). */
export function money(amount: string, currency: string, lang: ConsoleLang): string {
  const minor = minorOf(amount);
  if (minor === null) return `${amount} ${currency}`;
  const text = decimalOf(minor);
  const negative = text.startsWith('-');
  const [whole = '0', cents = '00'] = (negative ? text.slice(1) : text).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, lang === 'uk' ? '\u00a0' : ',');
  const number = `${negative ? '−' : ''}${grouped}${lang === 'uk' ? ',' : '.'}${cents}`;
  if (currency === 'UAH') return lang === 'uk' ? `${number}\u00a0грн` : `UAH\u00a0${number}`;
  return `${number}\u00a0${currency}`;
}

const TAGS: Record<ConsoleLang, string> = { uk: 'uk-UA', en: 'en-GB' };

export function dateTime(iso: string | null | undefined, lang: ConsoleLang): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(TAGS[lang], { dateStyle: 'short', timeStyle: 'medium' }).format(d);
}

export function statusLabel(status: string, lang: ConsoleLang): string {
  return isStatus(status) ? STATUS_LABELS[status][lang] : status;
}

/** The label with a tone for its frame; the words carry the meaning, the colour only helps. */
export function StatusBadge({ status, lang }: { status: string; lang: ConsoleLang }) {
  const s = isStatus(status) ? status : null;
  const tone = s === SUCCESS_STATUS ? 'ok' : s && FAILED_FINAL_STATUSES.has(s) ? 'bad' : 'wait';
  return (
    <span class={`badge is-${tone}`} data-status={status}>
      {statusLabel(status, lang)}
    </span>
  );
}

const ERRORS: Record<ConsoleLang, Partial<Record<string, string>>> = {
  uk: {
    INVALID_CREDENTIALS: 'Невірне імʼя або пароль.',
    RATE_LIMITED: 'Забагато спроб. Зачекайте трохи і спробуйте знову.',
    UNAUTHORIZED: 'Сесія завершилась. Увійдіть знову.',
    FORBIDDEN: 'Недостатньо прав для цієї дії.',
    CSRF_FAILED: 'Сесію оновлено. Спробуйте ще раз.',
    NOT_YOUR_INVOICE: 'Цей рахунок узяв інший трейдер.',
    ALREADY_TAKEN: 'Цей рахунок уже взяв інший трейдер.',
    ALREADY_YOURS: 'Цей рахунок уже ваш.',
    ALREADY_PAID: 'Рахунок уже оплачено — скасувати не можна.',
    TRANSITION_REFUSED: 'Стан рахунку змінився. Оновлюємо…',
    DEADLINE_PASSED: 'Час для цієї дії вийшов.',
    INVALID_CARD: 'Невірний номер картки (16–19 цифр, контрольна сума).',
    INVALID_AMOUNT: 'Невірна сума: додатне число, не більше двох знаків після коми.',
    VALIDATION_FAILED: 'Перевірте введені дані.',
    INVOICE_NOT_FOUND: 'Рахунок не знайдено.',
    NOT_FOUND: 'Не знайдено.',
    INSUFFICIENT_DEPOSIT: 'Недостатньо вільного депозиту для цього рахунку.',
    INSUFFICIENT_FUNDS: 'Недостатньо коштів.',
    CONCURRENT_UPDATE: 'Рахунок щойно змінився. Спробуйте ще раз.',
    NETWORK: 'Немає зʼєднання з сервером.',
    UNAVAILABLE: 'Сервер тимчасово недоступний.',
  },
  en: {
    INVALID_CREDENTIALS: 'Wrong name or password.',
    RATE_LIMITED: 'Too many attempts. Wait a little and try again.',
    UNAUTHORIZED: 'Your session has ended. Sign in again.',
    FORBIDDEN: 'You are not allowed to do this.',
    CSRF_FAILED: 'The session was refreshed. Try again.',
    NOT_YOUR_INVOICE: 'Another trader holds this invoice.',
    ALREADY_TAKEN: 'Another trader has already taken this invoice.',
    ALREADY_YOURS: 'This invoice is already yours.',
    ALREADY_PAID: 'The invoice is already paid and cannot be canceled.',
    TRANSITION_REFUSED: 'The invoice has changed. Updating…',
    DEADLINE_PASSED: 'The time for this has run out.',
    INVALID_CARD: 'Not a valid card number (16–19 digits with a valid check digit).',
    INVALID_AMOUNT: 'Not a valid amount: a positive number with at most two decimals.',
    VALIDATION_FAILED: 'Check what you entered.',
    INVOICE_NOT_FOUND: 'Invoice not found.',
    NOT_FOUND: 'Not found.',
    INSUFFICIENT_DEPOSIT: 'Your available deposit does not cover this invoice.',
    INSUFFICIENT_FUNDS: 'Not enough funds.',
    CONCURRENT_UPDATE: 'The invoice just changed. Try again.',
    NETWORK: 'No connection to the server.',
    UNAVAILABLE: 'The server is unavailable for now.',
  },
};

/** What went wrong, in the user's language; the server's own message when we have no words for it. */
export function errorText(err: unknown, lang: ConsoleLang): string {
  if (err instanceof ApiError) return ERRORS[lang][err.code] ?? err.message;
  return ERRORS[lang].NETWORK ?? String(err);
}

/** Re-renders every `ms`: what a countdown needs to tick. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

function clock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** The time left until `at`, ticking; words for screen readers, which read "4:05" as a time of day. */
export function Deadline({ at, lang, label }: { at: string | null; lang: ConsoleLang; label?: string }) {
  const now = useNow();
  if (!at) return null;
  const left = Date.parse(at) - now;
  const t = pick(lang, {
    uk: { left: label ?? 'Залишилось', over: 'Час вийшов', min: 'хв', sec: 'с' },
    en: { left: label ?? 'Time left', over: 'Time is up', min: 'min', sec: 's' },
  });
  const total = Math.max(0, Math.ceil(left / 1000));
  const spoken = `${Math.floor(total / 60)} ${t.min} ${total % 60} ${t.sec}`;
  const urgent = left < 60_000;
  return (
    <span class={`deadline${urgent ? ' is-urgent' : ''}`} data-testid="deadline">
      {left <= 0 ? (
        <strong>{t.over}</strong>
      ) : (
        <>
          <span>{t.left}: </span>
          <span role="timer">
            <strong aria-hidden="true">{clock(left)}</strong>
            <span class="visually-hidden">{spoken}</span>
          </span>
        </>
      )}
    </span>
  );
}

export function CopyButton({ text, label, lang, testId }: { text: string; label: string; lang: ConsoleLang; testId?: string }) {
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const t = pick(lang, { uk: { done: 'Скопійовано', failed: 'Не вдалося скопіювати' }, en: { done: 'Copied', failed: 'Could not copy' } });
  return (
    <button
      type="button"
      class="btn btn-small"
      data-testid={testId}
      onClick={async () => {
        setState((await copyText(text)) ? 'done' : 'failed');
        clearTimeout(timer.current);
        timer.current = setTimeout(() => setState('idle'), 2500);
      }}
    >
      <span aria-live="polite">{state === 'idle' ? label : state === 'done' ? t.done : t.failed}</span>
    </button>
  );
}

/** A message box that is announced when it appears; errors are said in words, not colour alone. */
export function Notice({ kind, children, testId }: { kind: 'error' | 'ok' | 'info'; children: ComponentChildren; testId?: string }) {
  return (
    <p class={`notice is-${kind}`} role={kind === 'error' ? 'alert' : 'status'} data-testid={testId}>
      {children}
    </p>
  );
}

/** Tabs inside a role's screen; plain buttons with aria-pressed (each shows a different panel). */
export function SubNav<K extends string>({
  items,
  current,
  onSelect,
  label,
}: {
  items: readonly { key: K; label: string; count?: number }[];
  current: K;
  onSelect: (key: K) => void;
  label: string;
}) {
  return (
    <nav class="subnav" aria-label={label}>
      {items.map((it) => (
        <button
          key={it.key}
          type="button"
          class="subnav-btn"
          aria-pressed={it.key === current}
          data-testid={`tab-${it.key}`}
          onClick={() => onSelect(it.key)}
        >
          {it.label}
          {it.count !== undefined && it.count > 0 && <span class="count">{it.count}</span>}
        </button>
      ))}
    </nav>
  );
}

/** A random Idempotency-Key: getRandomValues works on plain http too, unlike randomUUID. */
export function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
