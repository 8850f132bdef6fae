import {
  type Action,
  AppError,
  findRule,
  LIMITS,
  parseCard,
  type SessionUser,
  STATUS_LABELS,
  STATUSES,
  type StaffInvoiceView,
  type Status,
} from '@nltrade/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type ConsoleApi } from '../api.ts';
import type { ConsoleLang } from '../roles.ts';
import { Deadline, errorText, money, Notice, StatusBadge } from '../ui.tsx';
import { forgetCard, maskedCard, type SavedCard, saveCard, savedCards } from './cards.ts';
import type { TraderStrings } from './strings.ts';

/** What a trader can do to an invoice, in the transition table's words, and the route that does it. */
const TRADER_ACTIONS = {
  accept: 'accept',
  setCard: 'card',
  confirm: 'confirm',
  changeAmount: 'amount',
  dispute: 'dispute',
} as const satisfies Partial<Record<Action, string>>;
type TraderAction = keyof typeof TRADER_ACTIONS;

/** The table decides what a trader may do in each status; the page never lists them itself. */
export function traderActions(status: Status): TraderAction[] {
  return (Object.keys(TRADER_ACTIONS) as TraderAction[]).filter((a) => findRule(status, a, 'trader') !== undefined);
}

export interface Group {
  status: Status;
  label: Readonly<Record<ConsoleLang, string>>;
  actions: TraderAction[];
  invoices: StaffInvoiceView[];
}

/** The trader's invoices by status, those waiting for the trader first, the nearest deadline first. */
export function groupsOf(invoices: readonly StaffInvoiceView[]): Group[] {
  const groups: Group[] = [];
  for (const status of STATUSES) {
    const here = invoices.filter((i) => i.status === status);
    if (here.length === 0) continue;
    here.sort((a, b) => (a.deadlineAt ? Date.parse(a.deadlineAt) : Infinity) - (b.deadlineAt ? Date.parse(b.deadlineAt) : Infinity));
    groups.push({ status, label: STATUS_LABELS[status], actions: traderActions(status), invoices: here });
  }
  return groups.sort((a, b) => Number(b.actions.length > 0) - Number(a.actions.length > 0));
}

export interface ItemHandle {
  focus(): void;
  /** A keyboard shortcut's action; ignored when the table does not allow it now. */
  run(action: 'accept' | 'confirm'): void;
}

interface ItemProps {
  invoice: StaffInvoiceView;
  api: ConsoleApi;
  user: SessionUser;
  lang: ConsoleLang;
  t: TraderStrings;
  selected: boolean;
  /** The settlement currency (from the balance), for what the invoice settles; '' until known. */
  currency: string;
  onSelect(): void;
  onDone(message: string): void;
  onError(err: unknown): void;
  register(handle: ItemHandle | null): void;
  /** Bumped after every reload, so the handle sees the current invoice. */
  version: number;
}

export function InvoiceItem(props: ItemProps) {
  const { invoice: inv, api, lang, t, selected } = props;
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLElement>(null);
  const actions = traderActions(inv.status);
  const base = `/v1/trader/invoices/${encodeURIComponent(inv.id)}`;

  const act = async (action: TraderAction, body: Record<string, string>, done: string): Promise<boolean> => {
    if (busy) return false;
    setBusy(true);
    try {
      await api.post(`${base}/${TRADER_ACTIONS[action]}`, body);
      props.onDone(done);
      return true;
    } catch (err) {
      props.onError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    props.register({
      focus: () => ref.current?.focus(),
      run: (action) => {
        if (action === 'accept' && actions.includes('accept')) void act('accept', {}, t.accepted(inv.id));
        if (action === 'confirm' && actions.includes('confirm')) void act('confirm', {}, t.confirmed(inv.id));
      },
    });
    return () => props.register(null);
  }, [props.version, inv.status, busy]);

  const titleId = `inv-${inv.id}`;
  return (
    <li>
      <article
        ref={ref}
        tabIndex={-1}
        class={`inv${selected ? ' is-selected' : ''}`}
        aria-labelledby={titleId}
        aria-current={selected ? 'true' : undefined}
        data-testid="invoice"
        data-id={inv.id}
        data-status={inv.status}
        onFocusIn={props.onSelect}
      >
        <div class="inv-head">
          <h4 id={titleId}>{t.invoiceNo(inv.id)}</h4>
          <StatusBadge status={inv.status} lang={lang} />
        </div>
        <p class="inv-title">{inv.title}</p>
        <dl class="facts">
          <div>
            <dt>{t.amount}</dt>
            <dd class="money" data-testid="amount">
              {money(inv.amount, inv.currency, lang)}
            </dd>
          </div>
          {inv.previousAmount && (
            <div>
              <dt>{t.previousAmount}</dt>
              <dd class="money">{money(inv.previousAmount, inv.currency, lang)}</dd>
            </div>
          )}
          <div>
            <dt>{t.receive}</dt>
            <dd class="money">{props.currency ? money(inv.receiveAmount, props.currency, lang) : inv.receiveAmount}</dd>
          </div>
          {inv.card && (
            <div>
              <dt>{t.card}</dt>
              <dd class="mono">{/^\d+$/.test(inv.card) ? maskedCard(inv.card) : inv.card}</dd>
            </div>
          )}
        </dl>
        {inv.deadlineAt && <Deadline at={inv.deadlineAt} lang={lang} />}
        <div class="inv-actions">
          {actions.includes('accept') && (
            <button
              type="button"
              class="btn btn-primary"
              disabled={busy}
              aria-label={t.acceptLong(inv.id)}
              data-testid="accept"
              onClick={() => act('accept', {}, t.accepted(inv.id))}
            >
              {busy ? t.busy : t.accept}
            </button>
          )}
          {actions.includes('setCard') && (
            <CardForm id={inv.id} api={api} lang={lang} t={t} busy={busy} send={(card) => act('setCard', card, t.cardSent(inv.id))} />
          )}
          {actions.includes('confirm') && (
            <button
              type="button"
              class="btn btn-primary"
              disabled={busy}
              aria-label={t.confirmLong(inv.id)}
              data-testid="confirm"
              onClick={() => act('confirm', {}, t.confirmed(inv.id))}
            >
              {busy ? t.busy : t.confirm}
            </button>
          )}
          {actions.includes('changeAmount') && (
            <details class="more">
              <summary data-testid="change-amount">{t.changeAmount}</summary>
              <form
                class="stack"
                onSubmit={(e) => {
                  e.preventDefault();
                  const form = new FormData(e.currentTarget);
                  const amount = String(form.get('amount') ?? '')
                    .trim()
                    .replace(',', '.');
                  const reason = String(form.get('reason') ?? '').trim();
                  void act('changeAmount', reason ? { amount, reason } : { amount }, t.amountChanged(inv.id));
                }}
              >
                <label class="field">
                  <span>{t.newAmount}</span>
                  <input
                    name="amount"
                    inputMode="decimal"
                    required
                    pattern="[0-9]+([.,][0-9]{1,2})?"
                    aria-describedby={`amount-hint-${inv.id}`}
                  />
                </label>
                <p class="hint" id={`amount-hint-${inv.id}`}>
                  {t.amountHint}
                </p>
                <label class="field">
                  <span>{t.amountReason}</span>
                  <textarea name="reason" rows={2} maxLength={LIMITS.reasonChars} data-testid="amount-reason" />
                </label>
                <button type="submit" class="btn" disabled={busy} data-testid="amount-submit">
                  {t.saveAmount}
                </button>
              </form>
            </details>
          )}
          {actions.includes('dispute') && (
            <details class="more">
              <summary data-testid="dispute">{t.dispute}</summary>
              <form
                class="stack"
                onSubmit={(e) => {
                  e.preventDefault();
                  const reason = String(new FormData(e.currentTarget).get('reason') ?? '').trim();
                  void act('dispute', reason ? { reason } : {}, t.disputed(inv.id));
                }}
              >
                <label class="field">
                  <span>{t.disputeReason}</span>
                  <textarea name="reason" rows={2} maxLength={LIMITS.reasonChars} />
                </label>
                <p class="hint">{t.disputeHint}</p>
                <button type="submit" class="btn btn-danger" disabled={busy} data-testid="dispute-submit">
                  {t.sendDispute}
                </button>
              </form>
            </details>
          )}
        </div>
      </article>
    </li>
  );
}

const OTHER = 'other';

function CardForm({
  id,
  api,
  lang,
  t,
  busy,
  send,
}: {
  id: string;
  api: ConsoleApi;
  lang: ConsoleLang;
  t: TraderStrings;
  busy: boolean;
  send: (card: { card: string } | { card_id: string }) => Promise<boolean>;
}) {
  // null until the list arrives: the typed-number field appearing then vanishing under a trader's
  // fingers (a saved card becoming the default) would lose what they typed.
  const [cards, setCards] = useState<SavedCard[] | null>(null);
  const [choice, setChoice] = useState<string>(OTHER);
  const [save, setSave] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const name = `card-choice-${id}`;

  const reload = async (prefer?: string) => {
    try {
      const list = await savedCards(api);
      setCards(list);
      setChoice((now) => prefer ?? (list.some((c) => c.id === now) ? now : (list[0]?.id ?? OTHER)));
    } catch (err) {
      // Without the list the trader can still type the number.
      setCards((now) => now ?? []);
      setError(err);
    }
  };
  useEffect(() => {
    void reload();
  }, []);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (choice !== OTHER) {
      await send({ card_id: choice });
      return;
    }
    const typed = String(new FormData(e.currentTarget as HTMLFormElement).get('card') ?? '');
    let digits: string;
    try {
      digits = parseCard(typed);
    } catch (err) {
      // core's own check, so the trader hears about a typo before the server does.
      setError(err instanceof AppError ? new ApiError(err.code, err.message, 400) : err);
      return;
    }
    if (!save) {
      await send({ card: digits });
      return;
    }
    let saved: SavedCard;
    try {
      saved = await saveCard(api, digits);
    } catch (err) {
      // Saved already, or the list is full: the payer still gets the card.
      setError(err);
      await send({ card: digits });
      return;
    }
    if (await send({ card_id: saved.id })) await reload(saved.id);
  };

  return (
    <form class="card-form stack" onSubmit={onSubmit} data-testid="card-form" data-ready={String(cards !== null)}>
      <fieldset>
        <legend>{t.cardLegend}</legend>
        {cards === null && <p class="muted">{t.loading}</p>}
        {cards !== null && cards.length > 0 && (
          <>
            <p class="hint">{t.savedCards}</p>
            {cards.map((c) => (
              <label key={c.id} class="check">
                <input type="radio" name={name} value={c.id} checked={choice === c.id} onChange={() => setChoice(c.id)} />
                <span class="mono">{maskedCard(c.masked)}</span>
                {c.label && <span class="muted"> · {c.label}</span>}
              </label>
            ))}
            <label class="check">
              <input
                type="radio"
                name={name}
                value={OTHER}
                checked={choice === OTHER}
                onChange={() => setChoice(OTHER)}
                data-testid="card-other"
              />
              {t.otherCard}
            </label>
          </>
        )}
        {cards !== null && choice === OTHER && (
          <>
            <label class="field">
              <span>{t.cardNumber}</span>
              <input
                name="card"
                inputMode="numeric"
                autocomplete="off"
                required
                maxLength={23}
                aria-describedby={`card-hint-${id}`}
                data-testid="card-input"
              />
            </label>
            <p class="hint" id={`card-hint-${id}`}>
              {t.cardHint}
            </p>
            <label class="check">
              <input type="checkbox" checked={save} onChange={(e) => setSave(e.currentTarget.checked)} data-testid="card-save" />
              {t.saveCard}
            </label>
          </>
        )}
        <p class="hint">{t.savedNote}</p>
      </fieldset>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      <div class="row-actions">
        <button type="submit" class="btn btn-primary" disabled={busy || cards === null} data-testid="card-submit">
          {busy ? t.busy : t.sendCard}
        </button>
        {choice !== OTHER && (
          <button
            type="button"
            class="btn btn-small"
            onClick={() => {
              void forgetCard(api, choice).then(
                () => reload(),
                (err: unknown) => setError(err),
              );
            }}
          >
            {t.forgetCard}
          </button>
        )}
      </div>
    </form>
  );
}
