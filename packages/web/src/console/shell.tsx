import type { ConsoleSessionView, SessionInfo, SessionUser } from '@nltrade/core';
import type { ComponentType } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ConsoleApi, currentSession, signIn } from './api.ts';
import { ConsoleLive, type LiveState, setBaseTitle } from './live.ts';
import type { ConsoleLang, RoleProps } from './roles.ts';
import { dateTime, errorText, Notice } from './ui.tsx';

type Role = SessionUser['role'];
type RoleModule = { default: ComponentType<RoleProps> };

// Each role's screens are their own chunk, fetched only by those who have that role.
const ROLE_SCREENS: Record<Role, () => Promise<RoleModule>> = {
  trader: () => import('./trader/index.tsx'),
  merchant: () => import('./merchant/index.tsx'),
  admin: () => import('./admin/index.tsx'),
};

const LANG_KEY = 'nltrade:console:lang';

function storedLang(): ConsoleLang {
  try {
    const v = localStorage.getItem(LANG_KEY);
    if (v === 'uk' || v === 'en') return v;
  } catch {
    // Storage disabled: Ukrainian, the default.
  }
  return 'uk';
}

const STRINGS = {
  uk: {
    console: 'Консоль',
    brand: 'NL-Trade',
    skip: 'Перейти до вмісту',
    loading: 'Завантаження…',
    signInTitle: 'Вхід до консолі',
    signInIntro: 'Для трейдерів, адміністраторів і мерчантів NL-Trade.',
    name: 'Імʼя користувача',
    password: 'Пароль',
    signIn: 'Увійти',
    signingIn: 'Входимо…',
    signedOutNotice: 'Сесія завершилась. Увійдіть знову.',
    goodbye: 'Ви вийшли з консолі.',
    language: 'Мова',
    signOut: 'Вийти',
    mainNav: 'Головне меню',
    roles: { trader: 'Трейдер', merchant: 'Мерчант', admin: 'Адміністратор' } as Record<Role, string>,
    workspace: { trader: 'Робоче місце', merchant: 'Рахунки і баланс', admin: 'Адміністрування' } as Record<Role, string>,
    sessions: 'Сесії',
    signedInAs: 'Ви увійшли як',
    live: { connecting: 'Підключення…', live: 'Наживо', reconnecting: 'Відновлюємо зʼєднання…' } as Record<LiveState, string>,
    loadFailed: 'Не вдалося завантажити цей розділ.',
    retry: 'Спробувати ще раз',
    sessionsTitle: 'Ваші сесії',
    sessionsIntro: 'Кожен пристрій і браузер, де ви увійшли. Завершіть ті, яких не впізнаєте.',
    thisDevice: 'Цей пристрій',
    created: 'Вхід',
    lastSeen: 'Остання активність',
    expires: 'Діє до',
    ip: 'IP-адреса',
    device: 'Браузер',
    revoke: 'Завершити',
    revokeThis: 'Завершити (вийти тут)',
    revoked: 'Сесію завершено.',
    noSessions: 'Інших сесій немає.',
  },
  en: {
    console: 'Console',
    brand: 'NL-Trade',
    skip: 'Skip to content',
    loading: 'Loading…',
    signInTitle: 'Sign in to the console',
    signInIntro: 'For NL-Trade traders, administrators and merchants.',
    name: 'User name',
    password: 'Password',
    signIn: 'Sign in',
    signingIn: 'Signing in…',
    signedOutNotice: 'Your session has ended. Sign in again.',
    goodbye: 'You have signed out.',
    language: 'Language',
    signOut: 'Sign out',
    mainNav: 'Main menu',
    roles: { trader: 'Trader', merchant: 'Merchant', admin: 'Administrator' },
    workspace: { trader: 'Workspace', merchant: 'Invoices and balance', admin: 'Administration' },
    sessions: 'Sessions',
    signedInAs: 'Signed in as',
    live: { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' },
    loadFailed: 'This section could not be loaded.',
    retry: 'Try again',
    sessionsTitle: 'Your sessions',
    sessionsIntro: 'Every device and browser where you are signed in. End the ones you do not recognise.',
    thisDevice: 'This device',
    created: 'Signed in',
    lastSeen: 'Last active',
    expires: 'Valid until',
    ip: 'IP address',
    device: 'Browser',
    revoke: 'End',
    revokeThis: 'End (sign out here)',
    revoked: 'The session was ended.',
    noSessions: 'No other sessions.',
  },
} satisfies Record<ConsoleLang, unknown>;
type Strings = (typeof STRINGS)['uk'];

type State = { kind: 'loading' } | { kind: 'out'; notice?: 'expired' | 'goodbye' } | { kind: 'in'; session: SessionInfo };

/** The whole console: who is signed in decides what is shown. */
export function Console() {
  const [lang, setLangState] = useState<ConsoleLang>(storedLang);
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [bootError, setBootError] = useState<unknown>(null);
  const t = STRINGS[lang];

  const setLang = (next: ConsoleLang) => {
    setLangState(next);
    try {
      localStorage.setItem(LANG_KEY, next);
    } catch {
      // Not remembered, but switched for this visit.
    }
  };

  useEffect(() => {
    document.documentElement.lang = lang;
    setBaseTitle(`${t.console} · NL-Trade`);
  }, [lang]);

  const boot = () => {
    setBootError(null);
    currentSession().then(
      (session) => setState(session ? { kind: 'in', session } : { kind: 'out' }),
      (err: unknown) => setBootError(err),
    );
  };
  useEffect(boot, []);

  if (state.kind === 'in') {
    return <SignedIn session={state.session} lang={lang} setLang={setLang} onSignedOut={(notice) => setState({ kind: 'out', notice })} />;
  }
  return (
    <div class="shell is-out">
      <a class="skip" href="#main">
        {t.skip}
      </a>
      <header class="topbar">
        <Brand t={t} />
        <LangSwitch lang={lang} setLang={setLang} t={t} />
      </header>
      <main id="main" class="signin-wrap">
        {bootError ? (
          <section class="panel">
            <h1>{t.console}</h1>
            <Notice kind="error">{errorText(bootError, lang)}</Notice>
            <button type="button" class="btn" onClick={boot}>
              {t.retry}
            </button>
          </section>
        ) : state.kind === 'loading' ? (
          <p class="muted" role="status">
            {t.loading}
          </p>
        ) : (
          <SignInForm lang={lang} t={t} notice={state.notice} onSignedIn={(session) => setState({ kind: 'in', session })} />
        )}
      </main>
    </div>
  );
}

function Brand({ t }: { t: Strings }) {
  return (
    <div class="brand">
      <span class="brand-mark" aria-hidden="true">
        N
      </span>
      <span class="brand-name">
        {t.brand} <span class="brand-sub">{t.console}</span>
      </span>
    </div>
  );
}

function LangSwitch({ lang, setLang, t }: { lang: ConsoleLang; setLang: (l: ConsoleLang) => void; t: Strings }) {
  return (
    <fieldset class="lang">
      <legend class="visually-hidden">{t.language}</legend>
      {(['uk', 'en'] as const).map((l) => (
        <button
          key={l}
          type="button"
          class="lang-btn"
          lang={l}
          aria-pressed={l === lang}
          data-testid={`lang-${l}`}
          onClick={() => setLang(l)}
        >
          {l === 'uk' ? 'УКР' : 'EN'}
          <span class="visually-hidden">{l === 'uk' ? ' — українська' : ' — English'}</span>
        </button>
      ))}
    </fieldset>
  );
}

function SignInForm({
  lang,
  t,
  notice,
  onSignedIn,
}: {
  lang: ConsoleLang;
  t: Strings;
  notice: 'expired' | 'goodbye' | undefined;
  onSignedIn: (s: SessionInfo) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(String(data.get('name') ?? ''), String(data.get('password') ?? '')));
    } catch (err) {
      setError(err);
      (form.elements.namedItem('password') as HTMLInputElement | null)?.focus();
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel signin" onSubmit={onSubmit} data-testid="signin-form">
      <h1>{t.signInTitle}</h1>
      <p class="muted">{t.signInIntro}</p>
      {notice && <Notice kind="info">{notice === 'expired' ? t.signedOutNotice : t.goodbye}</Notice>}
      <label class="field">
        <span>{t.name}</span>
        <input name="name" autocomplete="username" required autocapitalize="none" spellcheck={false} />
      </label>
      <label class="field">
        <span>{t.password}</span>
        <input name="password" type="password" autocomplete="current-password" required />
      </label>
      {error !== null && (
        <Notice kind="error" testId="signin-error">
          {errorText(error, lang)}
        </Notice>
      )}
      <button type="submit" class="btn btn-primary" disabled={busy} data-testid="signin-submit">
        {busy ? t.signingIn : t.signIn}
      </button>
    </form>
  );
}

type Page = 'work' | 'sessions';
const pageOfPath = (): Page => (/^\/console\/sessions\/?$/.test(location.pathname) ? 'sessions' : 'work');

function SignedIn({
  session,
  lang,
  setLang,
  onSignedOut,
}: {
  session: SessionInfo;
  lang: ConsoleLang;
  setLang: (l: ConsoleLang) => void;
  onSignedOut: (notice: 'expired' | 'goodbye') => void;
}) {
  const t = STRINGS[lang];
  const user = session.user;
  const api = useMemo(() => new ConsoleApi(session.csrf_token, () => onSignedOut('expired')), [session]);
  const live = useMemo(() => new ConsoleLive(), [session]);
  const [liveState, setLiveState] = useState<LiveState>('connecting');
  const [page, setPage] = useState<Page>(pageOfPath);
  const [signingOut, setSigningOut] = useState(false);
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => {
    live.start();
    const off = live.onState(setLiveState);
    return () => {
      off();
      live.stop();
    };
  }, [live]);

  useEffect(() => {
    const onPop = () => setPage(pageOfPath());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  const go = (next: Page) => {
    history.pushState(null, '', next === 'sessions' ? '/console/sessions' : '/console');
    setPage(next);
    // Moving focus to the new content tells a screen-reader user the page changed.
    mainRef.current?.focus();
  };

  const signOut = async () => {
    setSigningOut(true);
    try {
      await api.del('/v1/session');
    } catch {
      // Already gone on the server (expired, revoked): signed out either way.
    }
    onSignedOut('goodbye');
  };

  return (
    <div class="shell">
      <a class="skip" href="#main">
        {t.skip}
      </a>
      <header class="topbar">
        <Brand t={t} />
        <p class={`live is-${liveState}`} data-testid="live-state">
          <span class="live-dot" aria-hidden="true" />
          {t.live[liveState]}
        </p>
        <p class="who" data-testid="who">
          <span class="visually-hidden">{t.signedInAs} </span>
          <strong>{user.name}</strong> <span class="muted">· {t.roles[user.role]}</span>
        </p>
        <LangSwitch lang={lang} setLang={setLang} t={t} />
        <button type="button" class="btn btn-small signout" onClick={signOut} disabled={signingOut} data-testid="sign-out">
          {t.signOut}
        </button>
      </header>
      <nav class="mainnav" aria-label={t.mainNav}>
        <a
          href="/console"
          aria-current={page === 'work' ? 'page' : undefined}
          data-testid="nav-work"
          onClick={(e) => {
            e.preventDefault();
            go('work');
          }}
        >
          {t.workspace[user.role]}
        </a>
        <a
          href="/console/sessions"
          aria-current={page === 'sessions' ? 'page' : undefined}
          data-testid="nav-sessions"
          onClick={(e) => {
            e.preventDefault();
            go('sessions');
          }}
        >
          {t.sessions}
        </a>
      </nav>
      <main id="main" ref={mainRef} tabIndex={-1} class="content">
        {page === 'sessions' ? (
          <Sessions api={api} lang={lang} t={t} onSignedOut={() => onSignedOut('goodbye')} />
        ) : (
          <RoleScreen role={user.role} props={{ api, user, lang, onChange: live.onChange }} t={t} />
        )}
      </main>
    </div>
  );
}

/** Loads the role's chunk once, then renders it; a failed load (a deploy replaced it) can be retried. */
function RoleScreen({ role, props, t }: { role: Role; props: RoleProps; t: Strings }) {
  const [mod, setMod] = useState<RoleModule | null>(null);
  const [failed, setFailed] = useState(false);
  const load = () => {
    setFailed(false);
    ROLE_SCREENS[role]().then(setMod, () => setFailed(true));
  };
  useEffect(load, [role]);
  if (failed) {
    return (
      <section class="panel">
        <Notice kind="error">{t.loadFailed}</Notice>
        <button type="button" class="btn" onClick={load}>
          {t.retry}
        </button>
      </section>
    );
  }
  if (!mod) {
    return (
      <p class="muted" role="status">
        {t.loading}
      </p>
    );
  }
  const Screen = mod.default;
  return <Screen {...props} />;
}

function Sessions({ api, lang, t, onSignedOut }: { api: ConsoleApi; lang: ConsoleLang; t: Strings; onSignedOut: () => void }) {
  const [rows, setRows] = useState<ConsoleSessionView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const load = () =>
    api.get<{ data: ConsoleSessionView[] }>('/v1/sessions').then(
      (r) => setRows(r.data),
      (err: unknown) => setError(err),
    );
  useEffect(() => void load(), []);

  const revoke = async (row: ConsoleSessionView) => {
    setError(null);
    setDone(false);
    try {
      await api.del(`/v1/sessions/${encodeURIComponent(row.id)}`);
      if (row.current) {
        onSignedOut();
        return;
      }
      setDone(true);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section class="panel" aria-labelledby="sessions-title" data-testid="sessions">
      <h1 id="sessions-title">{t.sessionsTitle}</h1>
      <p class="muted">{t.sessionsIntro}</p>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {done && <Notice kind="ok">{t.revoked}</Notice>}
      {rows === null ? (
        <p class="muted">{t.loading}</p>
      ) : (
        <ul class="rows">
          {rows.map((r) => (
            <li key={r.id} class="row" data-testid="session-row" data-current={r.current ? 'true' : 'false'}>
              <div class="row-main">
                <p>
                  <strong>{r.user_agent || '—'}</strong> {r.current && <span class="badge is-ok">{t.thisDevice}</span>}
                </p>
                <dl class="facts">
                  <div>
                    <dt>{t.ip}</dt>
                    <dd>{r.ip ?? '—'}</dd>
                  </div>
                  <div>
                    <dt>{t.created}</dt>
                    <dd>{dateTime(r.created_at, lang)}</dd>
                  </div>
                  <div>
                    <dt>{t.lastSeen}</dt>
                    <dd>{dateTime(r.last_seen_at, lang)}</dd>
                  </div>
                  <div>
                    <dt>{t.expires}</dt>
                    <dd>{dateTime(r.expires_at, lang)}</dd>
                  </div>
                </dl>
              </div>
              <button type="button" class="btn btn-small btn-danger" onClick={() => revoke(r)} data-testid="session-revoke">
                {r.current ? t.revokeThis : t.revoke}
              </button>
            </li>
          ))}
          {rows.length === 1 && <li class="muted">{t.noSessions}</li>}
        </ul>
      )}
    </section>
  );
}
