import { LIMITS, WEBHOOK_EVENT_TYPES, type WebhookDeliveryView, type WebhookEndpointView } from '@nltrade/core';
import { useEffect, useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import type { ConsoleLang } from '../roles.ts';
import { CopyButton, dateTime, errorText, idempotencyKey, Notice } from '../ui.tsx';
import type { MerchantStrings } from './strings.ts';

interface Props {
  api: ConsoleApi;
  lang: ConsoleLang;
  t: MerchantStrings;
}

export function Webhooks({ api, lang, t }: Props) {
  const [endpoints, setEndpoints] = useState<WebhookEndpointView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);

  const load = () =>
    api.get<{ data: WebhookEndpointView[] }>('/v1/webhook-endpoints').then(
      (r) => setEndpoints(r.data),
      (err: unknown) => setError(err),
    );
  useEffect(() => void load(), []);

  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const events = data.getAll('events').map(String);
    const body: Record<string, unknown> = { url: String(data.get('url') ?? '').trim() };
    // Every type ticked is the same as none named: then types added later are sent too.
    if (events.length > 0 && events.length < WEBHOOK_EVENT_TYPES.length) body.events = events;
    setBusy(true);
    setError(null);
    setMessage('');
    try {
      const made = await api.post<WebhookEndpointView>('/v1/webhook-endpoints', body, { 'idempotency-key': idempotencyKey() });
      if (made.secret) setSecret({ url: made.url, secret: made.secret });
      form.reset();
      await load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async (id: string) => {
    setError(null);
    try {
      await api.del(`/v1/webhook-endpoints/${encodeURIComponent(id)}`);
      setMessage(t.deleted);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section class="panel" aria-labelledby="wh-title" data-testid="webhooks">
      <h1 id="wh-title">{t.webhooksTitle}</h1>
      <p class="muted">{t.webhooksIntro}</p>
      {error !== null && <Notice kind="error">{errorText(error, lang)}</Notice>}
      {message && <Notice kind="ok">{message}</Notice>}
      {secret && (
        <section class="secret-box" aria-labelledby="secret-title" data-testid="webhook-secret">
          <h2 id="secret-title">{t.secretTitle}</h2>
          <p>
            <strong>{t.secretOnce}</strong>
          </p>
          <p class="muted small">{secret.url}</p>
          <p class="mono secret">{secret.secret}</p>
          <div class="row-actions">
            <CopyButton text={secret.secret} label={t.copySecret} lang={lang} />
            <button type="button" class="btn btn-small" onClick={() => setSecret(null)}>
              {t.done}
            </button>
          </div>
        </section>
      )}
      {endpoints === null ? (
        <p class="muted">{t.loading}</p>
      ) : endpoints.length === 0 ? (
        <p class="empty">{t.noEndpoints}</p>
      ) : (
        <ul class="rows">
          {endpoints.map((ep) => (
            <Endpoint key={ep.id} ep={ep} api={api} lang={lang} t={t} onDelete={() => remove(ep.id)} onError={setError} />
          ))}
        </ul>
      )}
      <form class="stack sub" onSubmit={create}>
        <h2>{t.addEndpoint}</h2>
        <label class="field">
          <span>{t.url}</span>
          <input name="url" type="url" required maxLength={LIMITS.webhookUrlChars} placeholder="https://" aria-describedby="wh-url-hint" />
        </label>
        <p class="hint" id="wh-url-hint">
          {t.urlHint}
        </p>
        <fieldset>
          <legend>{t.events}</legend>
          {WEBHOOK_EVENT_TYPES.map((type) => (
            <label key={type} class="check">
              <input type="checkbox" name="events" value={type} defaultChecked />
              <code>{type}</code>
            </label>
          ))}
        </fieldset>
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="webhook-create">
          {t.addEndpoint}
        </button>
      </form>
    </section>
  );
}

function Endpoint({
  ep,
  api,
  lang,
  t,
  onDelete,
  onError,
}: Props & { ep: WebhookEndpointView; onDelete: () => void; onError: (err: unknown) => void }) {
  const [asking, setAsking] = useState(false);
  const [log, setLog] = useState<WebhookDeliveryView[] | null>(null);
  const [shown, setShown] = useState(false);
  const [note, setNote] = useState('');

  const loadLog = () =>
    api
      .get<{ data: WebhookDeliveryView[] }>(`/v1/webhook-endpoints/${encodeURIComponent(ep.id)}/deliveries`, { limit: 50 })
      .then((r) => setLog(r.data), onError);

  const toggleLog = () => {
    if (!shown) void loadLog();
    setShown(!shown);
  };

  const redeliver = async (eventId: string) => {
    try {
      await api.post(`/v1/events/${encodeURIComponent(eventId)}/redeliver`, {}, { 'idempotency-key': idempotencyKey() });
      setNote(t.redelivered);
      await loadLog();
    } catch (err) {
      onError(err);
    }
  };

  const logId = `log-${ep.id}`;
  return (
    <li class="row endpoint" data-testid="webhook-endpoint">
      <div class="row-main">
        <p class="mono break">{ep.url}</p>
        <dl class="facts">
          <div>
            <dt>{t.status}</dt>
            <dd>{ep.status === 'enabled' ? t.enabled : t.disabled}</dd>
          </div>
          <div>
            <dt>{t.events}</dt>
            <dd>{ep.events ? ep.events.join(', ') : t.allEvents}</dd>
          </div>
          <div>
            <dt>{t.created}</dt>
            <dd>{dateTime(ep.created_at, lang)}</dd>
          </div>
          {ep.failing_since && (
            <div>
              <dt>{t.failingSince}</dt>
              <dd>{dateTime(ep.failing_since, lang)}</dd>
            </div>
          )}
        </dl>
        <div class="row-actions">
          <button
            type="button"
            class="btn btn-small"
            aria-expanded={shown}
            aria-controls={logId}
            onClick={toggleLog}
            data-testid="webhook-log"
          >
            {shown ? t.hideDeliveries : t.deliveries}
          </button>
          {asking ? (
            <>
              <span class="small">{t.deleteAsk(ep.url)}</span>
              <button type="button" class="btn btn-small btn-danger" onClick={onDelete} data-testid="webhook-delete-sure">
                {t.deleteSure}
              </button>
              <button type="button" class="btn btn-small" onClick={() => setAsking(false)}>
                {t.cancelKeep}
              </button>
            </>
          ) : (
            <button type="button" class="btn btn-small btn-danger" onClick={() => setAsking(true)} data-testid="webhook-delete">
              {t.deleteEndpoint}
            </button>
          )}
        </div>
        {note && <Notice kind="ok">{note}</Notice>}
        {shown && (
          <div id={logId} class="table-wrap">
            {log === null ? (
              <p class="muted">{t.loading}</p>
            ) : log.length === 0 ? (
              <p class="empty">{t.noDeliveries}</p>
            ) : (
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">{t.event}</th>
                    <th scope="col">{t.invoice}</th>
                    <th scope="col">{t.status}</th>
                    <th scope="col" class="num">
                      {t.attempts}
                    </th>
                    <th scope="col">{t.lastAnswer}</th>
                    <th scope="col">{t.created}</th>
                    <th scope="col">
                      <span class="visually-hidden">{t.redeliver}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {log.map((d) => (
                    <tr key={d.id} data-testid="delivery-row">
                      <td data-label={t.event}>
                        <code>{d.event_type}</code>
                      </td>
                      <td data-label={t.invoice}>
                        №{d.invoice_id} · v{d.sequence}
                      </td>
                      <td data-label={t.status}>{t.deliveryStatus[d.status] ?? d.status}</td>
                      <td class="num" data-label={t.attempts}>
                        {d.attempts}
                      </td>
                      <td data-label={t.lastAnswer}>{d.last_status_code ?? d.last_error ?? '—'}</td>
                      <td data-label={t.created}>{dateTime(d.created_at, lang)}</td>
                      <td>
                        <button type="button" class="btn btn-small" onClick={() => redeliver(d.event_id)}>
                          {t.redeliver}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        )}
      </div>
    </li>
  );
}
