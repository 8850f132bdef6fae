import {
  FAILED_FINAL_STATUSES,
  findRule,
  outcomesOf,
  PAYER_CURRENCY,
  type SessionUser,
  STATUS_LABELS,
  type Status,
  SUCCESS_STATUS,
  TRANSITIONS,
} from '@nltrade/core';
import { type ComponentChildren, createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { formatMoney } from '../../format.ts';
import { ApiError, type ConsoleApi } from '../api.ts';
import type { ConsoleLang } from '../roles.ts';
import type { AdminStrings } from './strings.ts';

/**
 * What every admin screen shares. `tick` grows with each (debounced) realtime hint, so a
 * screen that lists it among its effect's dependencies refetches when something changed.
 */
export interface AdminContext {
  readonly api: ConsoleApi;
  readonly user: SessionUser;
  readonly lang: ConsoleLang;
  readonly t: AdminStrings;
  readonly tick: number;
}

export const Admin = createContext<AdminContext | null>(null);

export function useAdmin(): AdminContext {
  const ctx = useContext(Admin);
  if (!ctx) throw new Error('admin screens need their context');
  return ctx;
}

// The lifecycle is core's table; what the administrator may do is read from it, never restated.
const decideRules = TRANSITIONS.filter((r) => r.action === 'decide' && r.actor === 'admin');
/** Statuses an administrator decides from: the disputes. */
export const DISPUTE_STATUSES: readonly Status[] = [...new Set(decideRules.map((r) => r.from))];
/** What a decision may lead to, in the table's order. */
export const DECISIONS: readonly Status[] = [...new Set(decideRules.flatMap((r) => outcomesOf(r)))];
/** Statuses in which `resolution` still holds the trader's reason for the dispute. */
export const TRADER_REASON_STATUSES: ReadonlySet<Status> = new Set([
  ...TRANSITIONS.filter((r) => r.action === 'dispute' && r.actor === 'trader').flatMap((r) => outcomesOf(r)),
  ...DISPUTE_STATUSES,
]);

export const isDispute = (status: Status): boolean => DISPUTE_STATUSES.includes(status);
export const adminMayCancel = (status: Status): boolean => findRule(status, 'cancel', 'admin') !== undefined;

export function statusLabel(status: Status, lang: ConsoleLang, fallback?: Readonly<Record<ConsoleLang, string>>): string {
  return STATUS_LABELS[status]?.[lang] ?? fallback?.[lang] ?? status;
}

/** The status in words, with a tone class that only repeats what the words say. */
export function StatusBadge({ status, label }: { status: Status; label?: Readonly<Record<ConsoleLang, string>> }) {
  const { lang } = useAdmin();
  const tone = status === SUCCESS_STATUS ? 'ok' : FAILED_FINAL_STATUSES.has(status) ? 'bad' : isDispute(status) ? 'warn' : 'info';
  return (
    <span class={`adm-badge adm-badge-${tone}`} data-status={status}>
      {statusLabel(status, lang, label)}
    </span>
  );
}

const DATE_TAGS: Record<ConsoleLang, string> = { uk: 'uk-UA', en: 'en-GB' };

/** `when`: ISO 8601 or epoch ms, as the endpoints answer. */
export function formatDate(when: string | number | null | undefined, lang: ConsoleLang): string {
  if (when === null || when === undefined || when === '') return '—';
  const d = new Date(when);
  if (Number.isNaN(d.getTime())) return String(when);
  return new Intl.DateTimeFormat(DATE_TAGS[lang], { dateStyle: 'short', timeStyle: 'medium' }).format(d);
}

/**
 * Decimal strings from the server in the language's money format. Payer amounts (UAH) look
 * exactly as on the checkout page; the settlement currency (often a token such as USDT,
 * which Intl has no symbol for) is grouped from the decimal string itself, never a float.
 */
export function money(amount: string, currency: string, lang: ConsoleLang): string {
  if (currency === PAYER_CURRENCY) return formatMoney(amount, currency, lang);
  if (!/^-?\d+(\.\d+)?$/.test(amount)) return `${amount} ${currency}`;
  const grouped = new Intl.NumberFormat(DATE_TAGS[lang], { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(
    amount as `${number}`,
  );
  return `${grouped} ${currency}`;
}

/** Who acted (an actor type and its id), in words. */
export function actorText(t: AdminStrings, type: string, id: string | null): string {
  const who = t.actors[type] ?? type;
  return id ? `${who} ${id}` : who;
}

/** The catalog's code in the administrator's language; the server's specifics where they help. */
export function errorText(t: AdminStrings, err: unknown): string {
  if (!(err instanceof ApiError)) return t.errorGeneric;
  const known = t.errors[err.code];
  if (!known) return err.message || t.errorGeneric;
  const detailed = err.code === 'VALIDATION_FAILED' || err.code === 'INVALID_AMOUNT' || err.code === 'INSUFFICIENT_FUNDS';
  return detailed && err.message ? `${known} (${err.message})` : known;
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Fetches on mount, whenever `deps` change and on every realtime tick. An answer that
 * arrives after a newer request was made is dropped, so a slow old page never wins.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const { tick } = useAdmin();
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [again, setAgain] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    load().then(
      (value) => {
        if (mine !== seq.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== seq.current) return;
        setError(err);
        setLoading(false);
      },
    );
  }, [...deps, tick, again]);
  const reload = useCallback(() => setAgain((n) => n + 1), []);
  return { data, error, loading, reload };
}

export function ErrorNote({ error, testId }: { error: unknown; testId?: string }) {
  const { t } = useAdmin();
  if (!error) return null;
  return (
    <p class="adm-note adm-note-bad" role="alert" data-testid={testId}>
      <strong>{t.error}:</strong> {errorText(t, error)}
    </p>
  );
}

export function OkNote({ text, testId }: { text: string | null; testId?: string }) {
  if (!text) return null;
  return (
    <p class="adm-note adm-note-ok" role="status" data-testid={testId}>
      {text}
    </p>
  );
}

/** A wide table scrolls inside itself on a phone; focusable so the keyboard can scroll it too. */
export function Scroll({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section class="adm-scroll" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

export interface Column {
  readonly label: ComponentChildren;
  /** Right-aligned figures. */
  readonly num?: boolean;
}

/**
 * A table of rows in a keyboard-scrollable region, captioned for screen readers with the
 * region's own label; `stack` lays rows out as cards on narrow screens.
 */
export function Table({
  label,
  columns,
  stack = false,
  testId,
  children,
}: {
  label: string;
  columns: readonly Column[];
  stack?: boolean;
  testId?: string;
  children: ComponentChildren;
}) {
  return (
    <Scroll label={label}>
      <table class={stack ? 'adm-table adm-stack' : 'adm-table'} data-testid={testId}>
        <caption class="adm-sr">{label}</caption>
        <thead>
          <tr>
            {columns.map((c, i) => (
              // Columns are fixed per table: their place is their identity.
              <th key={i} scope="col" class={c.num ? 'adm-num' : undefined}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </Scroll>
  );
}

/** Runs one form submission at a time and reports how it went. */
export function useAction(): {
  busy: boolean;
  error: unknown;
  done: string | null;
  run: (work: () => Promise<string>) => Promise<boolean>;
  reset: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = async (work: () => Promise<string>): Promise<boolean> => {
    if (busy) return false;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone(await work());
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const reset = () => {
    setError(null);
    setDone(null);
  };
  return { busy, error, done, run, reset };
}

let nextId = 0;
/** A stable id for tying labels and hints to inputs. */
export function useId(prefix: string): string {
  const ref = useRef<string | null>(null);
  if (ref.current === null) ref.current = `${prefix}-${++nextId}`;
  return ref.current;
}

/** Optional ids typed by hand: empty means "not given", anything else is sent as typed. */
export const optional = (value: string): string | undefined => (value.trim() === '' ? undefined : value.trim());

/**
 * A row's button: the short visible words, and for a screen reader (and axe's "visible text
 * in the name" rule) whom it acts on, after them.
 */
export function RowLabel({ text, of }: { text: string; of: string }) {
  return (
    <>
      {text}
      <span class="adm-sr"> — {of}</span>
    </>
  );
}
