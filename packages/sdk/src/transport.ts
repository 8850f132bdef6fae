import type { ClientErrorCode } from './errors.ts';

/** Where and how a client sends its requests. */
export interface Transport {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

/** A JSON answer as received: the caller decides what a non-2xx answer throws. */
export interface JsonAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly json: unknown;
  /** The server's `Request-Id`, when it sent one. */
  readonly requestId: string | undefined;
}

/** Makes the client's own error for a failure before a JSON answer (NETWORK, BAD_RESPONSE). */
export type FailureFactory = (code: ClientErrorCode, status: number, message: string, requestId: string | undefined) => Error;

/**
 * Sends one JSON request with the Bearer token, bounded by the timeout, and parses the answer.
 * Shared by the SDK's clients so they reach the server and read answers the same way.
 */
export async function sendJson(
  t: Transport,
  method: string,
  path: string,
  body: unknown,
  extraHeaders: Readonly<Record<string, string>>,
  fail: FailureFactory,
): Promise<JsonAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
  if (t.token) headers.authorization = `Bearer ${t.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await t.fetch(t.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(t.timeoutMs),
    });
  } catch (err) {
    throw fail('NETWORK', 0, `Cannot reach ${t.baseUrl}: ${(err as Error).message}`, undefined);
  }
  const requestId = response.headers.get('request-id') ?? undefined;
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw fail('BAD_RESPONSE', response.status, `The server answered ${response.status} with a non-JSON body`, requestId);
  }
  return { ok: response.ok, status: response.status, json, requestId };
}
