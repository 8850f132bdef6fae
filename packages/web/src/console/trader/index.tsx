import { HELD_STATUSES, OPEN_STATUS, type StaffInvoiceList, type StaffInvoiceView, type TraderBalanceView } from '@nltrade/core';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { debounced, setTitleCount } from '../live.ts';
import { pick, type RoleProps } from '../roles.ts';
import { errorText, Notice, SubNav } from '../ui.tsx';
import { Balance, History } from './money.tsx';
import { TRADER_STRINGS } from './strings.ts';
import { groupsOf, InvoiceItem, type ItemHandle } from './work.tsx';

const LIST_LIMIT = 200;
const SOUND_KEY = 'nltrade:console:sound';

type Tab = 'work' | 'balance' | 'history';

function soundStored(): boolean {
  try {
    return localStorage.getItem(SOUND_KEY) === 'on';
  } catch {
    return false;
  }
}

/** A short two-tone beep, made on the spot: no audio file to fetch, nothing the CSP must allow. */
function beep(ctx: AudioContext): void {
  const start = ctx.currentTime;
  for (const [i, freq] of [880, 1320].entries()) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, start + i * 0.16);
    gain.gain.exponentialRampToValueAtTime(0.2, start + i * 0.16 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.16 + 0.14);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start + i * 0.16);
    osc.stop(start + i * 0.16 + 0.15);
  }
}

export default function TraderApp(props: RoleProps) {
  const { api, user, lang, onChange } = props;
  const t = pick(lang, TRADER_STRINGS);
  const me = user.account_id ?? '';
  const [tab, setTab] = useState<Tab>('work');
  const [queue, setQueue] = useState<StaffInvoiceView[] | null>(null);
  const [mine, setMine] = useState<StaffInvoiceView[]>([]);
  const [balance, setBalance] = useState<TraderBalanceView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState('');
  // Kept as the error, not its words: a language switch re-words it.
  const [actionError, setActionError] = useState<unknown>(null);
  const [sound, setSound] = useState(soundStored);
  const [selected, setSelectedState] = useState<string | null>(null);
  // The key handler reads these, not the render's values: a key pressed right after another
  // must see the selection the first one made, before any effect has run again.
  const selectedRef = useRef<string | null>(null);
  const orderRef = useRef<string[]>([]);
  const setSelected = (id: string | null) => {
    selectedRef.current = id;
    setSelectedState(id);
  };
  const [help, setHelp] = useState(false);
  const [version, setVersion] = useState(0);
  const audio = useRef<AudioContext | null>(null);
  const known = useRef<Set<string> | null>(null);
  const items = useRef(new Map<string, ItemHandle>());

  const load = async () => {
    try {
      const [open, ...held] = await Promise.all([
        api.get<StaffInvoiceList>('/v1/trader/invoices', { status: OPEN_STATUS, limit: LIST_LIMIT }),
        ...[...HELD_STATUSES].map((status) => api.get<StaffInvoiceList>('/v1/trader/invoices', { status, limit: LIST_LIMIT })),
      ]);
      // The queue's most urgent first: the invoice nearest to expiring unclaimed on top.
      const queueNow = (open?.invoices ?? []).sort(
        (a, b) => (a.deadlineAt ? Date.parse(a.deadlineAt) : Infinity) - (b.deadlineAt ? Date.parse(b.deadlineAt) : Infinity),
      );
      // Only the invoices newly offered since the last look ring and are announced.
      const fresh = known.current ? queueNow.filter((i) => !known.current?.has(i.id)) : [];
      known.current = new Set(queueNow.map((i) => i.id));
      setQueue(queueNow);
      setMine(held.flatMap((r) => r.invoices).filter((i) => i.traderId === me));
      setError(null);
      if (fresh.length > 0) {
        setMessage(t.queueNew(fresh.length));
        if (audio.current) beep(audio.current);
      }
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
    api.get<TraderBalanceView>('/v1/trader/balance').then(setBalance, () => {});
  };

  useEffect(() => {
    void load();
    const refetch = debounced(() => void load());
    const off = onChange(refetch);
    return () => {
      off();
      refetch.cancel();
    };
  }, []);

  // The number waiting is in the tab's title, where it shows from another tab too.
  useEffect(() => {
    setTitleCount(queue?.length ?? 0);
    return () => setTitleCount(0);
  }, [queue?.length]);

  const toggleSound = (on: boolean) => {
    setSound(on);
    try {
      localStorage.setItem(SOUND_KEY, on ? 'on' : 'off');
    } catch {
      // Not remembered past this visit.
    }
  };
  // Browsers allow audio only after a user gesture; the toggle (or any key) is one.
  useEffect(() => {
    if (!sound) {
      void audio.current?.close();
      audio.current = null;
      return;
    }
    const wake = () => {
      if (!audio.current) audio.current = new AudioContext();
      void audio.current.resume();
    };
    wake();
    addEventListener('keydown', wake, { once: true });
    addEventListener('pointerdown', wake, { once: true });
    return () => {
      removeEventListener('keydown', wake);
      removeEventListener('pointerdown', wake);
    };
  }, [sound]);

  const groups = useMemo(() => groupsOf(mine), [mine]);
  orderRef.current = useMemo(() => [...(queue ?? []), ...groups.flatMap((g) => g.invoices)].map((i) => i.id), [queue, groups]);

  const onDone = (text: string) => {
    setMessage(text);
    setActionError(null);
    void load();
  };

  useEffect(() => {
    if (tab !== 'work') return;
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      const order = orderRef.current;
      const selected = selectedRef.current;
      const at = selected ? order.indexOf(selected) : -1;
      const move = (delta: number) => {
        if (order.length === 0) return;
        const next = order[Math.min(order.length - 1, Math.max(0, at === -1 ? 0 : at + delta))];
        if (next === undefined) return;
        setSelected(next);
        items.current.get(next)?.focus();
      };
      switch (e.key) {
        case 'j':
          move(1);
          break;
        case 'k':
          move(-1);
          break;
        case 'a':
          if (selected) items.current.get(selected)?.run('accept');
          break;
        case 'c':
          if (selected) items.current.get(selected)?.run('confirm');
          break;
        case 'r':
          void load();
          break;
        case '?':
          setHelp((h) => !h);
          break;
        case 'Escape':
          setHelp(false);
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [tab]);

  const itemProps = (invoice: StaffInvoiceView) => ({
    invoice,
    api,
    user,
    lang,
    t,
    selected: selected === invoice.id,
    onSelect: () => setSelected(invoice.id),
    onDone,
    onError: (err: unknown) => {
      // Said on screen, not only to screen readers: the action did not happen.
      setActionError(err);
      void load();
    },
    currency: balance?.currency ?? '',
    register: (h: ItemHandle | null) => {
      if (h) items.current.set(invoice.id, h);
      else items.current.delete(invoice.id);
    },
    version,
  });

  return (
    <div class="role trader" data-testid="trader">
      <SubNav
        label={t.sections}
        current={tab}
        onSelect={setTab}
        items={[
          { key: 'work', label: t.tabWork, count: queue?.length ?? 0 },
          { key: 'balance', label: t.tabBalance },
          { key: 'history', label: t.tabHistory },
        ]}
      />
      <div class="visually-hidden" role="status" aria-live="polite" data-testid="trader-announcer">
        {message}
      </div>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {tab === 'work' && actionError !== null && (
        <Notice kind="error" testId="action-error">
          {errorText(actionError, lang)}
        </Notice>
      )}
      {tab === 'work' && (
        <div class="work">
          <section class="panel" aria-labelledby="queue-title" data-testid="queue">
            <div class="panel-head">
              <h1 id="queue-title">
                {t.queueTitle} <span class="count">{queue?.length ?? 0}</span>
              </h1>
              <div class="tools">
                <label class="check">
                  <input type="checkbox" checked={sound} onChange={(e) => toggleSound(e.currentTarget.checked)} data-testid="sound" />
                  {t.sound}
                </label>
                <button
                  type="button"
                  class="btn btn-small"
                  onClick={() => setHelp((h) => !h)}
                  aria-expanded={help}
                  data-testid="help-toggle"
                >
                  {t.shortcuts} <kbd>?</kbd>
                </button>
              </div>
            </div>
            <p class="muted">{t.queueIntro}</p>
            {help && <Shortcuts t={t} onClose={() => setHelp(false)} />}
            {queue === null ? (
              <p class="muted">{t.loading}</p>
            ) : queue.length === 0 ? (
              <p class="empty" data-testid="queue-empty">
                {t.queueEmpty}
              </p>
            ) : (
              <ul class="cards">
                {queue.map((i) => (
                  <InvoiceItem key={i.id} {...itemProps(i)} />
                ))}
              </ul>
            )}
          </section>
          <section class="panel" aria-labelledby="mine-title" data-testid="mine">
            <h2 id="mine-title">{t.mineTitle}</h2>
            {groups.length === 0 && <p class="empty">{t.mineEmpty}</p>}
            {groups.map((g) => (
              <section
                key={g.status}
                class={`group${g.actions.length > 0 ? ' needs-you' : ''}`}
                data-testid="mine-group"
                data-status={g.status}
              >
                <h3>
                  {g.label[lang]} <span class="count">{g.invoices.length}</span>
                </h3>
                <p class="group-todo">
                  {g.actions.includes('setCard') ? t.needsCard : g.actions.includes('confirm') ? t.needsCheck : t.waiting}
                </p>
                <ul class="cards">
                  {g.invoices.map((i) => (
                    <InvoiceItem key={i.id} {...itemProps(i)} />
                  ))}
                </ul>
              </section>
            ))}
          </section>
        </div>
      )}
      {tab === 'balance' && <Balance balance={balance} lang={lang} t={t} />}
      {tab === 'history' && <History api={api} me={me} lang={lang} t={t} currency={balance?.currency ?? ''} onChange={onChange} />}
    </div>
  );
}

function Shortcuts({ t, onClose }: { t: (typeof TRADER_STRINGS)['uk']; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <section class="help" aria-labelledby="help-title" tabIndex={-1} ref={ref} data-testid="shortcuts">
      <h2 id="help-title">{t.shortcutsTitle}</h2>
      <dl class="keys">
        {t.shortcutList.map(([k, what]) => (
          <div key={k}>
            <dt>
              <kbd>{k}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <button type="button" class="btn btn-small" onClick={onClose}>
        {t.close}
      </button>
    </section>
  );
}
