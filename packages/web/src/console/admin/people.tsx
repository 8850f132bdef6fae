import {
  type AccountTokenView,
  CONSOLE_ROLES,
  type ConsoleRole,
  type ConsoleUserView,
  type CreatedConsoleUser,
  LIMITS,
} from '@nltrade/core';
import { useState } from 'preact/hooks';
import { ErrorNote, formatDate, OkNote, optional, RowLabel, Table, useAction, useAdmin, useId, useLoad } from './common.tsx';
import { Merchants } from './merchants.tsx';
import { OneTimeSecret } from './secret.tsx';

/** Console users: who may sign in, with what role; create, disable, enable, reset a password. */
export function People() {
  const { api, t } = useAdmin();
  const users = useLoad(() => api.get<{ data: ConsoleUserView[] }>('/v1/admin/users'), []);
  const [resetFor, setResetFor] = useState<ConsoleUserView | null>(null);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const rowAction = useAction();

  const reissue = (u: ConsoleUserView) =>
    rowAction.run(async () => {
      setSecret(null);
      const r = await api.post<AccountTokenView>(`/v1/admin/accounts/${encodeURIComponent(u.account_id ?? '')}/token`, {});
      setSecret({ label: t.tokenIssued(u.name), value: r.token });
      return '';
    });

  const toggle = (u: ConsoleUserView) =>
    rowAction
      .run(async () => {
        await api.post(`/v1/admin/users/${encodeURIComponent(u.id)}/${u.disabled ? 'enable' : 'disable'}`, {});
        return u.disabled ? t.userEnabled(u.name) : t.userDisabled(u.name);
      })
      .then((ok) => ok && users.reload());

  const list = users.data?.data ?? [];
  return (
    <section aria-labelledby="adm-people-title" data-testid="people">
      <h2 id="adm-people-title">{t.peopleTitle}</h2>
      <CreateUser
        onCreated={(name, token) => {
          if (token) setSecret({ label: `${t.created(name)} ${t.apiToken}:`, value: token });
          users.reload();
        }}
      />
      {secret ? <OneTimeSecret label={secret.label} value={secret.value} onDismiss={() => setSecret(null)} testId="user-secret" /> : null}
      <section class="adm-card" aria-labelledby="adm-users-title">
        <h3 id="adm-users-title">{t.usersList}</h3>
        <ErrorNote error={users.error} testId="users-error" />
        <ErrorNote error={rowAction.error} />
        <OkNote text={rowAction.done || null} testId="users-done" />
        {users.data === null && users.loading ? <p aria-busy="true">{t.loading}</p> : null}
        {users.data !== null && list.length === 0 ? <p>{t.usersEmpty}</p> : null}
        {list.length > 0 ? (
          <Table
            label={t.usersList}
            stack
            testId="users-table"
            columns={[
              { label: t.colName },
              { label: t.colRole },
              { label: t.colAccount },
              { label: t.colState },
              { label: t.colCreated },
              { label: t.colActions },
            ]}
          >
            {list.map((u) => (
              <UserRow
                key={u.id}
                u={u}
                busy={rowAction.busy}
                onToggle={() => toggle(u)}
                onReset={() => setResetFor(u)}
                onToken={() => reissue(u)}
              />
            ))}
          </Table>
        ) : null}
      </section>
      {resetFor ? <ResetPassword key={resetFor.id} user={resetFor} onClose={() => setResetFor(null)} /> : null}
      <Merchants />
    </section>
  );
}

function UserRow({
  u,
  busy,
  onToggle,
  onReset,
  onToken,
}: {
  u: ConsoleUserView;
  busy: boolean;
  onToggle: () => void;
  onReset: () => void;
  onToken: () => void;
}) {
  const { t, lang, user } = useAdmin();
  const self = u.id === user.id;
  return (
    <tr data-testid={`user-${u.name}`}>
      <th scope="row" class="adm-wrap">
        {u.name} {self ? <span class="adm-hint">{t.you}</span> : null}
      </th>
      <td data-label={t.colRole}>{t.roles[u.role] ?? u.role}</td>
      <td data-label={t.colAccount}>{u.merchant_id ? `${t.merchant} ${u.merchant_id}` : (u.account_id ?? t.none)}</td>
      <td data-label={t.colState}>
        <span class={`adm-badge ${u.disabled ? 'adm-badge-bad' : 'adm-badge-ok'}`}>{u.disabled ? t.disabled : t.active}</span>
      </td>
      <td data-label={t.colCreated}>{formatDate(u.created_at, lang)}</td>
      <td data-label={t.colActions}>
        <div class="adm-row">
          {/* Disabling oneself would lock the only door; another administrator can do it. */}
          {self ? null : (
            <button
              type="button"
              class={u.disabled ? undefined : 'adm-danger'}
              disabled={busy}
              onClick={onToggle}
              data-testid={`toggle-${u.name}`}
            >
              <RowLabel text={u.disabled ? t.enable : t.disable} of={u.name} />
            </button>
          )}
          <button type="button" onClick={onReset} data-testid={`reset-${u.name}`}>
            <RowLabel text={t.resetPassword} of={u.name} />
          </button>
          {u.account_id ? (
            <button type="button" disabled={busy} onClick={onToken} data-testid={`token-${u.name}`}>
              <RowLabel text={t.newApiToken} of={u.name} />
            </button>
          ) : null}
        </div>
      </td>
    </tr>
  );
}

function CreateUser({ onCreated }: { onCreated: (name: string, token: string | null) => void }) {
  const { api, t } = useAdmin();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<ConsoleRole>('trader');
  const [merchant, setMerchant] = useState('');
  const action = useAction();
  const ids = {
    name: useId('adm-u-name'),
    password: useId('adm-u-pass'),
    hint: useId('adm-u-hint'),
    role: useId('adm-u-role'),
    merchant: useId('adm-u-merchant'),
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    let token: string | null = null;
    const made = name.trim();
    const ok = await action.run(async () => {
      const body = role === 'merchant' ? { name: made, password, role, merchant_id: optional(merchant) } : { name: made, password, role };
      token = (await api.post<CreatedConsoleUser>('/v1/admin/users', body)).token ?? null;
      return t.created(made);
    });
    if (ok) {
      setName('');
      setPassword('');
      onCreated(made, token);
    }
  };

  return (
    <form class="adm-card adm-form adm-grid-form" onSubmit={submit} aria-labelledby="adm-create-user" data-testid="create-user">
      <h3 id="adm-create-user" class="adm-wide">
        {t.createUser}
      </h3>
      <div class="adm-input">
        <label for={ids.name}>{t.name}</label>
        <input
          id={ids.name}
          name="new-user-name"
          required
          maxLength={LIMITS.accountNameChars}
          autocomplete="off"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </div>
      <div class="adm-input">
        <label for={ids.password}>{t.password}</label>
        <input
          id={ids.password}
          name="new-user-password"
          type="password"
          required
          minLength={LIMITS.passwordMinChars}
          autocomplete="new-password"
          aria-describedby={ids.hint}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <small id={ids.hint} class="adm-hint">
          {t.passwordHint}
        </small>
      </div>
      <div class="adm-input">
        <label for={ids.role}>{t.role}</label>
        <select id={ids.role} name="new-user-role" value={role} onChange={(e) => setRole(e.currentTarget.value as typeof role)}>
          {CONSOLE_ROLES.map((r) => (
            <option key={r} value={r}>
              {t.roles[r]}
            </option>
          ))}
        </select>
      </div>
      {role === 'merchant' ? (
        <div class="adm-input">
          <label for={ids.merchant}>{t.merchantForUser}</label>
          <input
            id={ids.merchant}
            name="new-user-merchant"
            required
            inputMode="numeric"
            value={merchant}
            onInput={(e) => setMerchant(e.currentTarget.value)}
          />
        </div>
      ) : null}
      <div class="adm-wide">
        <ErrorNote error={action.error} testId="create-user-error" />
        <OkNote text={action.done} testId="create-user-done" />
        <button type="submit" class="adm-primary" disabled={action.busy}>
          {action.busy ? t.saving : t.create}
        </button>
      </div>
    </form>
  );
}

function ResetPassword({ user, onClose }: { user: ConsoleUserView; onClose: () => void }) {
  const { api, t } = useAdmin();
  const [password, setPassword] = useState('');
  const action = useAction();
  const id = useId('adm-reset');
  const hint = useId('adm-reset-hint');

  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      await api.post(`/v1/admin/users/${encodeURIComponent(user.id)}/password`, { password });
      return t.passwordSet(user.name);
    });
    if (ok) setPassword('');
  };

  return (
    <form class="adm-card adm-form" onSubmit={submit} aria-labelledby="adm-reset-title" data-testid="reset-form">
      <h3 id="adm-reset-title">{t.resetPasswordFor(user.name)}</h3>
      <label for={id}>{t.newPassword}</label>
      <input
        id={id}
        name="reset-password"
        type="password"
        required
        minLength={LIMITS.passwordMinChars}
        autocomplete="new-password"
        aria-describedby={hint}
        value={password}
        onInput={(e) => setPassword(e.currentTarget.value)}
        // biome-ignore lint/a11y/noAutofocus: the form opens on the administrator's request, to type into it
        autoFocus
      />
      <small id={hint} class="adm-hint">
        {t.passwordHint}
      </small>
      <ErrorNote error={action.error} />
      <OkNote text={action.done} testId="reset-done" />
      <div class="adm-row">
        <button type="submit" class="adm-primary" disabled={action.busy}>
          {action.busy ? t.saving : t.setPassword}
        </button>
        <button type="button" onClick={onClose}>
          {t.close}
        </button>
      </div>
    </form>
  );
}
