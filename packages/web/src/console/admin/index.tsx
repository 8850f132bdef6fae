import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { RoleProps } from '../roles.ts';
import './admin.css';
import { Admin, type AdminContext } from './common.tsx';
import { Disputes } from './disputes.tsx';
import { Invoices } from './invoices.tsx';
import { Money } from './money.tsx';
import { People } from './people.tsx';
import { Settings } from './settings.tsx';
import { STRINGS } from './strings.ts';

const SCREENS = ['disputes', 'invoices', 'people', 'money', 'settings'] as const;
type Screen = (typeof SCREENS)[number];

/** Hints come in bursts (one per invoice change); one refetch per quiet moment is enough. */
const HINT_DEBOUNCE_MS = 400;
const KEY = 'nltrade:console:admin:screen';

function savedScreen(): Screen {
  try {
    const s = sessionStorage.getItem(KEY);
    return (SCREENS as readonly string[]).includes(s ?? '') ? (s as Screen) : 'disputes';
  } catch {
    return 'disputes';
  }
}

/** The administrator's console: disputes, invoices, people, money and settings, refreshed by realtime hints. */
export default function AdminConsole({ api, user, lang, onChange }: RoleProps) {
  const t = STRINGS[lang];
  const [screen, setScreen] = useState<Screen>(savedScreen);
  const [tick, setTick] = useState(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    const off = onChange(() => {
      clearTimeout(timer.current);
      timer.current = setTimeout(() => setTick((n) => n + 1), HINT_DEBOUNCE_MS);
    });
    return () => {
      off();
      clearTimeout(timer.current);
    };
  }, [onChange]);

  const ctx = useMemo<AdminContext>(() => ({ api, user, lang, t, tick }), [api, user, lang, t, tick]);
  const go = (s: Screen) => {
    setScreen(s);
    try {
      sessionStorage.setItem(KEY, s);
    } catch {
      // Private mode: the screen is simply not remembered across reloads.
    }
  };
  const names: Record<Screen, string> = {
    disputes: t.tabDisputes,
    invoices: t.tabInvoices,
    people: t.tabPeople,
    money: t.tabMoney,
    settings: t.tabSettings,
  };

  return (
    <Admin.Provider value={ctx}>
      <div class="adm" data-testid="admin-console">
        <nav class="adm-tabs" aria-label={t.sections}>
          <ul>
            {SCREENS.map((s) => (
              <li key={s}>
                <button type="button" aria-current={screen === s ? 'page' : undefined} onClick={() => go(s)} data-testid={`admin-tab-${s}`}>
                  {names[s]}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div class="adm-screen">
          {screen === 'disputes' ? <Disputes /> : null}
          {screen === 'invoices' ? <Invoices /> : null}
          {screen === 'people' ? <People /> : null}
          {screen === 'money' ? <Money /> : null}
          {screen === 'settings' ? <Settings /> : null}
        </div>
      </div>
    </Admin.Provider>
  );
}
