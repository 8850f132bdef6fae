import { type CreatedMerchant, LIMITS, type MerchantProfile, type MerchantRow, type MerchantTokenView } from '@nltrade/core';
import { useState } from 'preact/hooks';
import { ErrorNote, formatDate, OkNote, RowLabel, Table, useAction, useAdmin, useId, useLoad } from './common.tsx';
import { OneTimeSecret } from './secret.tsx';

type Confirmable = 'rotate' | 'token' | 'disable' | 'enable';

type Shown = { kind: 'token'; label: string; value: string } | { kind: 'key'; label: string; value: string };

/** Merchants: create one (its access token shown once), rotate its RSA key, issue a new token, disable or enable it. */
export function Merchants() {
  const { api, t, lang } = useAdmin();
  const merchants = useLoad(() => api.get<{ data: MerchantRow[] }>('/v1/admin/merchants'), []);
  const [shown, setShown] = useState<Shown | null>(null);
  const [confirm, setConfirm] = useState<{ m: MerchantRow; what: Confirmable } | null>(null);
  const action = useAction();

  const perform = async (m: MerchantRow, what: Confirmable) => {
    setConfirm(null);
    setShown(null);
    const ok = await action.run(async () => {
      if (what === 'disable' || what === 'enable') {
        await api.post(`/v1/admin/merchants/${encodeURIComponent(m.id)}/${what}`, {});
        return what === 'disable' ? t.merchantDisabled(m.name) : t.merchantEnabled(m.name);
      }
      if (what === 'rotate') {
        const p = await api.post<MerchantProfile>(`/v1/admin/merchants/${encodeURIComponent(m.id)}/rotate-key`, {});
        setShown({ kind: 'key', label: t.keyRotated(m.name), value: p.public_key });
        return '';
      }
      const r = await api.post<MerchantTokenView>(`/v1/admin/merchants/${encodeURIComponent(m.id)}/token`, {});
      setShown({ kind: 'token', label: t.tokenIssued(m.name), value: r.access_token });
      return '';
    });
    if (ok && (what === 'disable' || what === 'enable')) merchants.reload();
  };
  const question = (c: { m: MerchantRow; what: Confirmable }) =>
    ({
      rotate: [t.rotateKeyFor(c.m.name), t.confirmRotate],
      token: [t.newAccessTokenFor(c.m.name), t.confirmToken],
      disable: [t.disableMerchantFor(c.m.name), t.confirmDisableMerchant],
      enable: [t.enableMerchantFor(c.m.name), t.confirmEnableMerchant],
    })[c.what];

  const list = merchants.data?.data ?? [];
  return (
    <section class="adm-card" aria-labelledby="adm-merchants-title" data-testid="merchants">
      <h3 id="adm-merchants-title">{t.merchantsTitle}</h3>
      <CreateMerchant
        onCreated={(name, token) => {
          setShown({ kind: 'token', label: `${t.merchantCreated(name)} ${t.accessToken}:`, value: token });
          merchants.reload();
        }}
      />
      {shown?.kind === 'token' ? (
        <OneTimeSecret label={shown.label} value={shown.value} onDismiss={() => setShown(null)} testId="merchant-secret" />
      ) : null}
      {shown?.kind === 'key' ? (
        <div class="adm-note adm-note-ok" role="status" data-testid="merchant-key">
          <p>{shown.label}</p>
          <pre class="adm-mono adm-pre">{shown.value}</pre>
        </div>
      ) : null}
      <ErrorNote error={merchants.error} />
      <ErrorNote error={action.error} />
      <OkNote text={action.done || null} testId="merchant-done" />
      {confirm ? (
        <div class="adm-note adm-note-warn" role="alertdialog" aria-labelledby="adm-m-confirm" data-testid="merchant-confirm">
          <p id="adm-m-confirm">
            <strong>{question(confirm)[0]}</strong>
            <br />
            {question(confirm)[1]}
          </p>
          <div class="adm-row">
            <button type="button" class="adm-danger" onClick={() => perform(confirm.m, confirm.what)} data-testid="merchant-confirm-yes">
              {t.confirmYes}
            </button>
            <button type="button" onClick={() => setConfirm(null)}>
              {t.cancel}
            </button>
          </div>
        </div>
      ) : null}
      {merchants.data !== null && list.length === 0 ? <p>{t.merchantsEmpty}</p> : null}
      {list.length > 0 ? (
        <Table
          label={t.merchantsTitle}
          stack
          testId="merchants-table"
          columns={[
            { label: t.colName },
            { label: 'ID' },
            { label: t.colSandbox },
            { label: t.colState },
            { label: t.colCreated },
            { label: t.colActions },
          ]}
        >
          {list.map((m) => (
            <tr key={m.id} data-testid={`merchant-${m.id}`}>
              <th scope="row" class="adm-wrap">
                {m.name}
              </th>
              <td data-label="ID">{m.id}</td>
              <td data-label={t.colSandbox}>{m.sandbox ? t.yes : t.no}</td>
              <td data-label={t.colState} data-testid={`merchant-${m.id}-state`}>
                {m.disabled ? (
                  <span class="adm-badge adm-badge-bad">{t.disabled}</span>
                ) : (
                  <span class="adm-badge adm-badge-ok">{t.active}</span>
                )}
              </td>
              <td data-label={t.colCreated}>{formatDate(m.created_at, lang)}</td>
              <td data-label={t.colActions}>
                <div class="adm-row">
                  <button type="button" disabled={action.busy} onClick={() => setConfirm({ m, what: 'rotate' })}>
                    <RowLabel text={t.rotateKey} of={m.name} />
                  </button>
                  <button type="button" disabled={action.busy} onClick={() => setConfirm({ m, what: 'token' })}>
                    <RowLabel text={t.newAccessToken} of={m.name} />
                  </button>
                  <button
                    type="button"
                    class={m.disabled ? undefined : 'adm-danger'}
                    disabled={action.busy}
                    onClick={() => setConfirm({ m, what: m.disabled ? 'enable' : 'disable' })}
                    data-testid={`merchant-toggle-${m.id}`}
                  >
                    <RowLabel text={m.disabled ? t.enable : t.disable} of={m.name} />
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </Table>
      ) : null}
    </section>
  );
}

function CreateMerchant({ onCreated }: { onCreated: (name: string, token: string) => void }) {
  const { api, t } = useAdmin();
  const [name, setName] = useState('');
  const [sandbox, setSandbox] = useState(false);
  const action = useAction();
  const ids = { name: useId('adm-m-name'), sandbox: useId('adm-m-sandbox') };

  const submit = async (e: Event) => {
    e.preventDefault();
    let made: CreatedMerchant | null = null;
    const ok = await action.run(async () => {
      made = await api.post<CreatedMerchant>('/v1/admin/merchants', { name: name.trim(), sandbox });
      return '';
    });
    if (ok && made) {
      const m: CreatedMerchant = made;
      setName('');
      setSandbox(false);
      onCreated(m.name, m.access_token);
    }
  };

  return (
    <form class="adm-form adm-inline-form" onSubmit={submit} aria-label={t.createMerchant} data-testid="create-merchant">
      <div class="adm-input">
        <label for={ids.name}>{t.merchantName}</label>
        <input
          id={ids.name}
          name="merchant-name"
          required
          maxLength={LIMITS.accountNameChars}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </div>
      <label class="adm-choice" for={ids.sandbox}>
        <input id={ids.sandbox} type="checkbox" checked={sandbox} onChange={(e) => setSandbox(e.currentTarget.checked)} />
        <span>{t.sandboxMerchant}</span>
      </label>
      <button type="submit" class="adm-primary" disabled={action.busy}>
        {action.busy ? t.saving : t.createMerchant}
      </button>
      <div class="adm-wide">
        <ErrorNote error={action.error} />
        <OkNote text={action.done || null} />
      </div>
    </form>
  );
}
