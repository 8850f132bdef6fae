import type { RuntimeSettingChange, RuntimeSettingView } from '@nltrade/core';
import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { actorText, ErrorNote, errorText, formatDate, OkNote, Table, useAction, useAdmin, useId, useLoad } from './common.tsx';
import type { AdminStrings } from './strings.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function changedBy(t: AdminStrings, by: string | null): string {
  if (!by) return t.none;
  const [type = by, id] = by.split(':', 2);
  return actorText(t, type, id ?? null);
}

/** Seconds, with minutes or hours beside them when they make the number easier to read. */
function seconds(t: AdminStrings, s: number): string {
  if (s >= 3600 && s % 3600 === 0) return `${t.secondsN(s)} (${t.hoursN(s / 3600)})`;
  if (s >= 60 && s % 60 === 0) return `${t.secondsN(s)} (${t.minutesN(s / 60)})`;
  return t.secondsN(s);
}

/**
 * The server's refusal in the administrator's language: its bounds are read from its message
 * ("… must be an integer from 30 to 86400"), which names them; anything else is shown as said.
 */
function refusalText(t: AdminStrings, err: unknown): string {
  if (err instanceof ApiError && err.code === 'VALIDATION_FAILED') {
    const m = /from (\d+) to (\d+)/.exec(err.message);
    if (m?.[1] && m[2]) return t.settingBounds(Number(m[1]), Number(m[2]));
  }
  return errorText(t, err);
}

/** The timeouts an administrator may change while the system runs, and who changed them when. */
export function Settings() {
  const { api, t } = useAdmin();
  // A change refetches both the list (new value, last change) and the history.
  const [version, setVersion] = useState(0);
  const settings = useLoad(() => api.get<{ data: RuntimeSettingView[] }>('/v1/admin/settings'), [version]);
  const list = settings.data?.data ?? [];
  return (
    <section aria-labelledby="adm-settings-title" data-testid="settings">
      <h2 id="adm-settings-title">{t.settingsTitle}</h2>
      <p class="adm-hint">{t.settingsIntro}</p>
      <ErrorNote error={settings.error} testId="settings-error" />
      {settings.data === null && settings.loading ? <p aria-busy="true">{t.loading}</p> : null}
      <ul class="adm-cards" aria-label={t.settingsTitle}>
        {list.map((s) => (
          <SettingCard key={s.key} setting={s} onChanged={() => setVersion((v) => v + 1)} />
        ))}
      </ul>
      <SettingsHistory version={version} />
    </section>
  );
}

function SettingCard({ setting: s, onChanged }: { setting: RuntimeSettingView; onChanged: () => void }) {
  const { api, t, lang } = useAdmin();
  const [value, setValue] = useState('');
  const action = useAction();
  const inputId = useId('adm-setting');
  const hintId = useId('adm-setting-hint');
  const titleId = useId('adm-setting-title');
  const name = t.settingNames[s.key] ?? s.key;
  // The server documents its settings in terse English; ours reads as a sentence in both languages,
  // and a key added on the server later still shows with the server's own words.
  const doc = t.settingDocs[s.key] ?? s.doc;

  const submit = async (e: Event) => {
    e.preventDefault();
    const typed = value.trim();
    const ok = await action.run(async () => {
      // Whole seconds go as a number; anything else as typed, for the server to refuse in its words.
      const change = await api.post<RuntimeSettingChange>('/v1/admin/settings', {
        key: s.key,
        value: /^\d{1,9}$/.test(typed) ? Number(typed) : typed,
      });
      return t.settingChanged(name, seconds(t, change.value));
    });
    if (ok) {
      setValue('');
      onChanged();
    }
  };

  const field = (label: string, content: string, testId?: string) => (
    <div class="adm-field">
      <dt>{label}</dt>
      <dd data-testid={testId}>{content}</dd>
    </div>
  );

  return (
    <li class="adm-card" aria-labelledby={titleId} data-testid={`setting-${s.key}`}>
      <h3 id={titleId}>
        {name} <span class="adm-mono adm-hint">{s.key}</span>
      </h3>
      <p class="adm-hint" data-testid={`setting-${s.key}-doc`}>
        {doc}
      </p>
      <dl class="adm-fields adm-fields-inline">
        {field(t.settingValue, seconds(t, s.value), `setting-${s.key}-value`)}
        {field(t.settingConfigured, seconds(t, s.configured), `setting-${s.key}-configured`)}
        {field(t.settingChangedAt, s.changed_at === null ? t.settingNeverChanged : formatDate(iso(s.changed_at), lang))}
        {field(t.settingChangedBy, changedBy(t, s.changed_by), `setting-${s.key}-by`)}
      </dl>
      <form class="adm-form" onSubmit={submit} aria-label={t.settingChangeOf(name)} data-testid={`setting-${s.key}-form`}>
        <label for={inputId}>{t.settingNew}</label>
        <input
          id={inputId}
          name="value"
          required
          inputMode="numeric"
          autocomplete="off"
          maxLength={9}
          aria-describedby={hintId}
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          data-testid={`setting-${s.key}-input`}
        />
        <p id={hintId} class="adm-hint">
          {t.settingNewHint}
        </p>
        {action.error ? (
          <p class="adm-note adm-note-bad" role="alert" data-testid={`setting-${s.key}-error`}>
            <strong>{t.error}:</strong> {refusalText(t, action.error)}
          </p>
        ) : null}
        <OkNote text={action.done} testId={`setting-${s.key}-done`} />
        <button type="submit" class="adm-primary" disabled={action.busy}>
          {action.busy ? t.saving : t.settingSave}
        </button>
      </form>
    </li>
  );
}

function SettingsHistory({ version }: { version: number }) {
  const { api, t, lang } = useAdmin();
  const loaded = useLoad(() => api.get<{ data: RuntimeSettingChange[] }>('/v1/admin/settings/history', { limit: 100 }), [version]);
  const rows = loaded.data?.data ?? [];
  return (
    <section class="adm-card" aria-labelledby="adm-settings-history">
      <h3 id="adm-settings-history">{t.settingsHistory}</h3>
      <ErrorNote error={loaded.error} />
      {loaded.data !== null && rows.length === 0 ? <p data-testid="settings-history-empty">{t.settingsHistoryEmpty}</p> : null}
      {rows.length > 0 ? (
        <Table
          label={t.settingsHistory}
          stack
          testId="settings-history"
          columns={[{ label: t.colWhen }, { label: t.settingCol }, { label: t.colValue, num: true }, { label: t.historyWho }]}
        >
          {rows.map((c) => (
            <tr key={c.id} data-testid={`settings-change-${c.id}`}>
              <td data-label={t.colWhen}>{formatDate(iso(c.at), lang)}</td>
              <td data-label={t.settingCol}>
                {t.settingNames[c.key] ?? c.key} <span class="adm-mono adm-hint">{c.key}</span>
              </td>
              <td class="adm-num" data-label={t.colValue}>
                {seconds(t, c.value)}
              </td>
              <td data-label={t.historyWho}>{actorText(t, c.actor_type, c.actor_id)}</td>
            </tr>
          ))}
        </Table>
      ) : null}
    </section>
  );
}
