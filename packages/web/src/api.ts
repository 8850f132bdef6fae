import { isErrorCode } from '@nltrade/core';
import type { CheckoutView, ErrorCode } from './types.ts';

/** Failures the page meets before (or instead of) a catalog answer. */
export type PageErrorCode = ErrorCode | 'NETWORK' | 'BAD_RESPONSE' | 'ABORTED';

/** An error the server answered (code from its catalog) or a network failure (code NETWORK). */
export class ApiError extends Error {
  readonly code: PageErrorCode;
  readonly httpStatus: number;

  constructor(code: PageErrorCode, message: string, httpStatus: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

const base = (uid: string) => `/v1/checkout/${encodeURIComponent(uid)}`;

function isView(value: unknown): value is CheckoutView {
  const v = value as Partial<CheckoutView> | null;
  return !!v && typeof v === 'object' && typeof v.status === 'string' && typeof v.version === 'number' && typeof v.amount === 'string';
}

export function errorFrom(status: number, body: unknown): ApiError {
  const b = body as { code?: unknown; message?: unknown } | null;
  const code: PageErrorCode = isErrorCode(b?.code) ? b.code : status >= 500 ? 'UNAVAILABLE' : 'BAD_RESPONSE';
  const message = b && typeof b.message === 'string' ? b.message : `HTTP ${status}`;
  return new ApiError(code, message, status);
}

async function request(url: string, init: RequestInit): Promise<CheckoutView> {
  let res: Response;
  try {
    res = await fetch(url, {
      ...init,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { accept: 'application/json', ...init.headers },
    });
  } catch {
    throw new ApiError('NETWORK', 'Network error', 0);
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // A proxy's HTML error page; the status code is all we get.
  }
  if (!res.ok) throw errorFrom(res.status, body);
  if (!isView(body)) throw new ApiError('BAD_RESPONSE', 'Unexpected answer from the server', res.status);
  return body;
}

export function fetchView(uid: string): Promise<CheckoutView> {
  return request(base(uid), { method: 'GET' });
}

export function markPaid(uid: string): Promise<CheckoutView> {
  return request(`${base(uid)}/paid`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
}

export interface Upload {
  promise: Promise<CheckoutView>;
  abort(): void;
}

/** XMLHttpRequest rather than fetch: only it reports upload progress. */
export function uploadPhoto(uid: string, file: File, onProgress: (fraction: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<CheckoutView>((resolve, reject) => {
    xhr.open('POST', `${base(uid)}/photo`);
    xhr.responseType = 'text';
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON: judged by status alone.
      }
      if (xhr.status < 200 || xhr.status >= 300) reject(errorFrom(xhr.status, body));
      else if (!isView(body)) reject(new ApiError('BAD_RESPONSE', 'Unexpected answer from the server', xhr.status));
      else resolve(body);
    };
    xhr.onerror = () => reject(new ApiError('NETWORK', 'Network error', 0));
    xhr.onabort = () => reject(new ApiError('ABORTED', 'Upload canceled', 0));
    const form = new FormData();
    form.append('photo', file, file.name || 'receipt');
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
