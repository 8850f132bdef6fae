import type { SessionInfo } from '@nltrade/core';
import { ApiError, errorFrom } from '../api.ts';

export { ApiError };

type Query = Record<string, string | number | undefined | null>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * The console's one way to the server: the session cookie goes with every request, and each
 * state-changing one carries the session's CSRF token (the server refuses it otherwise).
 * `onSignedOut` runs when the server no longer knows the session (expired, revoked).
 */
export class ConsoleApi {
  csrfToken: string;
  readonly #onSignedOut: () => void;

  constructor(csrfToken: string, onSignedOut: () => void = () => {}) {
    this.csrfToken = csrfToken;
    this.#onSignedOut = onSignedOut;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.#send<T>('GET', withQuery(path, query));
  }

  /** `headers` adds to the defaults, e.g. an `Idempotency-Key` so a retried create is not a second invoice. */
  post<T>(path: string, body: unknown = {}, headers?: Record<string, string>): Promise<T> {
    return this.#send<T>('POST', path, body, headers);
  }

  del<T>(path: string): Promise<T> {
    return this.#send<T>('DELETE', path);
  }

  async #send<T>(method: string, path: string, body?: unknown, extra?: Record<string, string>): Promise<T> {
    const headers: Record<string, string> = { ...extra, accept: 'application/json' };
    if (method !== 'GET') headers['x-csrf-token'] = this.csrfToken;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await sendRaw(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return res.json as T;
    } catch (err) {
      if (err instanceof ApiError && err.httpStatus === 401) this.#onSignedOut();
      throw err;
    }
  }
}

/** One request; a non-2xx answer becomes an ApiError carrying the catalog's code. */
async function sendRaw(path: string, init: RequestInit): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError('NETWORK', 'Network error', 0);
  }
  let json: unknown = null;
  try {
    json = await res.json();
  } catch {
    // A proxy's HTML error page: judged by its status alone.
  }
  if (!res.ok) throw errorFrom(res.status, json);
  return { status: res.status, json };
}

/** The current session, or null when nobody is signed in on this browser. */
export async function currentSession(): Promise<SessionInfo | null> {
  try {
    return (await sendRaw('/v1/session', { method: 'GET', headers: { accept: 'application/json' } })).json as SessionInfo;
  } catch (err) {
    if (err instanceof ApiError && err.httpStatus === 401) return null;
    throw err;
  }
}

export async function signIn(name: string, password: string): Promise<SessionInfo> {
  const res = await sendRaw('/v1/session', {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
  });
  return res.json as SessionInfo;
}
