import type { MerchantProfile, MerchantSandboxView, MerchantTokenView } from '@nltrade/core';
import type { Ref } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import type { ConsoleLang } from '../roles.ts';
import { CopyButton, errorText, Notice } from '../ui.tsx';
import type { MerchantStrings } from './strings.ts';

/** GET /v1/merchant: who the merchant is, and the key its integration encrypts with. */
export function loadProfile(api: ConsoleApi): Promise<MerchantProfile> {
  return api.get<MerchantProfile>('/v1/merchant');
}

interface Props {
  api: ConsoleApi;
  lang: ConsoleLang;
  t: MerchantStrings;
  profile: MerchantProfile | null;
  onProfile: (profile: MerchantProfile) => void;
}

/** The addresses an integration is configured with; the legacy ones are fixed by the original API. */
const ADDRESSES = [
  { key: 'addrLegacy', path: '/method/RemoteInvoiceApi' },
  { key: 'addrKey', path: '/helpers/getLatestPublicRemoteRsaKey.php' },
  { key: 'addrRest', path: '/v1' },
  { key: 'addrSocket', path: '/socket.io' },
] as const;

export function Integration({ api, lang, t, profile, onProfile }: Props) {
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState('');
  const [asking, setAsking] = useState<'rotate' | 'token' | null>(null);
  const [busy, setBusy] = useState(false);
  const [token, setToken] = useState<string | null>(null);
  const tokenRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (profile) return;
    loadProfile(api).then(onProfile, setError);
  }, []);
  useEffect(() => {
    if (token) tokenRef.current?.focus();
  }, [token]);

  const run = async (what: 'rotate' | 'token') => {
    setBusy(true);
    setError(null);
    setMessage('');
    try {
      if (what === 'rotate') {
        onProfile(await api.post<MerchantProfile>('/v1/merchant/rotate-key', {}));
        setMessage(t.rotated);
      } else {
        setToken((await api.post<MerchantTokenView>('/v1/merchant/token', {})).access_token);
      }
      setAsking(null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const origin = window.location.origin;
  return (
    <section class="panel stack" aria-labelledby="int-title" data-testid="integration">
      <h1 id="int-title">{t.integrationTitle}</h1>
      <p class="muted">{t.integrationIntro}</p>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {message && (
        <Notice kind="ok" testId="integration-message">
          {message}
        </Notice>
      )}

      <section class="stack sub" aria-labelledby="key-title">
        <h2 id="key-title">{t.keyTitle}</h2>
        <p class="hint">{t.keyIntro}</p>
        {profile ? (
          <>
            <p class="small">{t.keyLabel}</p>
            {/* Lines stay lines on a desktop; on a phone the block wraps rather than scroll sideways. */}
            <div class="mono secret small" data-testid="public-key">
              {profile.public_key
                .trim()
                .split('\n')
                .map((line, i) => (
                  <span key={`${i}-${line}`}>
                    {line}
                    <br />
                  </span>
                ))}
            </div>
            <div class="row-actions">
              <CopyButton text={profile.public_key} label={t.copyKey} lang={lang} testId="copy-key" />
              <a
                class="btn btn-small"
                href={`data:application/x-pem-file;charset=utf-8,${encodeURIComponent(profile.public_key)}`}
                download={`nltrade-merchant-${profile.id}-public.pem`}
                data-testid="download-key"
              >
                {t.downloadKey}
              </a>
            </div>
            <ConfirmedAction
              asking={asking === 'rotate'}
              busy={busy}
              question={t.rotateAsk}
              start={t.rotateKey}
              sure={busy ? t.rotating : t.rotateSure}
              keep={t.keep}
              testId="rotate"
              startTestId="rotate-key"
              onAsk={() => setAsking('rotate')}
              onSure={() => run('rotate')}
              onKeep={() => setAsking(null)}
            />
          </>
        ) : (
          error === null && <p class="muted">{t.loading}</p>
        )}
      </section>

      <section class="stack sub" aria-labelledby="token-title">
        <h2 id="token-title">{t.tokenTitle}</h2>
        <p class="hint">{t.tokenIntro}</p>
        {token && (
          <TokenOnce
            token={token}
            title={t.tokenNewTitle}
            lang={lang}
            t={t}
            testId="new-token"
            titleRef={tokenRef}
            onDone={() => setToken(null)}
          />
        )}
        <ConfirmedAction
          asking={asking === 'token'}
          busy={busy}
          question={t.tokenAsk}
          start={t.newToken}
          sure={busy ? t.tokenIssuing : t.tokenSure}
          keep={t.keep}
          testId="token"
          startTestId="new-token-start"
          onAsk={() => setAsking('token')}
          onSure={() => run('token')}
          onKeep={() => setAsking(null)}
        />
      </section>

      {profile && !profile.sandbox && <Sandbox api={api} lang={lang} t={t} />}

      <section class="stack sub" aria-labelledby="addr-title">
        <h2 id="addr-title">{t.addressesTitle}</h2>
        <p class="hint">{t.addressesIntro}</p>
        {ADDRESSES.map((a) => {
          const url = origin + a.path;
          return (
            <div class="link-box" key={a.path}>
              <label class="field">
                <span>{t[a.key]}</span>
                <input readOnly value={url} class="mono" data-testid="integration-address" onFocus={(e) => e.currentTarget.select()} />
              </label>
              <CopyButton text={url} label={t.copy} lang={lang} />
            </div>
          );
        })}
        <p>
          <a href="/docs" data-testid="docs-link">
            {t.docsLink}
          </a>{' '}
          <span class="hint">— {t.docsHint}</span>
        </p>
      </section>
    </section>
  );
}

/** A token in the one answer that carries it: copy it now, it is never shown again. */
function TokenOnce(props: {
  token: string;
  title: string;
  lang: ConsoleLang;
  t: MerchantStrings;
  testId: string;
  titleRef?: Ref<HTMLHeadingElement>;
  onDone: () => void;
}) {
  const { token, t, testId } = props;
  return (
    <section class="secret-box" aria-labelledby={`${testId}-title`} data-testid={testId}>
      <h3 id={`${testId}-title`} tabIndex={-1} ref={props.titleRef}>
        {props.title}
      </h3>
      <p>
        <strong>{t.tokenOnce}</strong>
      </p>
      <p class="mono secret" data-testid={`${testId}-value`}>
        {token}
      </p>
      <div class="row-actions">
        <CopyButton text={token} label={t.copyToken} lang={props.lang} testId={`${testId}-copy`} />
        <button type="button" class="btn btn-small" onClick={props.onDone} data-testid={`${testId}-done`}>
          {t.done}
        </button>
      </div>
    </section>
  );
}

/**
 * The merchant's own sandbox: a test merchant whose invoices the simulated trader serves (test
 * card, no real money), switched on and off here; its token is shown once, when first made.
 */
function Sandbox({ api, lang, t }: { api: ConsoleApi; lang: ConsoleLang; t: MerchantStrings }) {
  const [state, setState] = useState<MerchantSandboxView | null>(null);
  const [token, setToken] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.get<MerchantSandboxView>('/v1/merchant/sandbox').then(setState, setError);
  }, []);

  const toggle = async (enabled: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const next = await api.post<MerchantSandboxView>('/v1/merchant/sandbox', { enabled });
      setState(next);
      if (next.access_token) setToken(next.access_token);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="stack sub" aria-labelledby="sandbox-title" data-testid="sandbox">
      <h2 id="sandbox-title">{t.sandboxTitle}</h2>
      <p class="hint">{t.sandboxIntro}</p>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {state && (
        <>
          <p data-testid="sandbox-state" data-enabled={String(state.enabled)}>
            <strong>{state.enabled ? t.sandboxOn : t.sandboxOff}</strong>
            {state.merchant_id && <span class="muted"> · {t.sandboxMerchant(state.merchant_id)}</span>}
          </p>
          {token && (
            <TokenOnce token={token} title={t.sandboxTokenTitle} lang={lang} t={t} testId="sandbox-token" onDone={() => setToken(null)} />
          )}
          <div class="row-actions">
            <button
              type="button"
              class={state.enabled ? 'btn' : 'btn btn-primary'}
              disabled={busy}
              onClick={() => toggle(!state.enabled)}
              data-testid="sandbox-toggle"
            >
              {busy ? t.loading : state.enabled ? t.sandboxTurnOff : t.sandboxTurnOn}
            </button>
          </div>
        </>
      )}
    </section>
  );
}

/**
 * A button for something that cannot be undone (the old key or token stops working), which
 * first asks; `testId` names the question (`<id>-confirm`) and its yes button (`<id>-sure`).
 */
function ConfirmedAction(props: {
  asking: boolean;
  busy: boolean;
  question: string;
  start: string;
  sure: string;
  keep: string;
  testId: string;
  startTestId: string;
  onAsk: () => void;
  onSure: () => void;
  onKeep: () => void;
}) {
  if (!props.asking) {
    return (
      <div class="row-actions">
        <button type="button" class="btn" onClick={props.onAsk} data-testid={props.startTestId}>
          {props.start}
        </button>
      </div>
    );
  }
  return (
    <div class="confirm-box" data-testid={`${props.testId}-confirm`}>
      <p>{props.question}</p>
      <div class="row-actions">
        <button type="button" class="btn btn-danger" disabled={props.busy} onClick={props.onSure} data-testid={`${props.testId}-sure`}>
          {props.sure}
        </button>
        <button type="button" class="btn" disabled={props.busy} onClick={props.onKeep}>
          {props.keep}
        </button>
      </div>
    </div>
  );
}
