import { type ErrorCode, isErrorCode } from '@nltrade/core';

/** Failures that happen before the server could answer with a catalog code. */
export type ClientErrorCode = 'NETWORK' | 'BAD_RESPONSE' | 'HTTP_ERROR' | 'REQUEST_TOO_LARGE';

/**
 * The error every failed call throws: the server's catalog code (or a client-side one), the
 * HTTP status (0 when the server was not reached) and the message.
 *
 * @example
 * ```ts
 * try { await trader.accept(id); } catch (e) { if (e instanceof NlTradeError && e.code === 'ALREADY_TAKEN') … }
 * ```
 */
export class NlTradeError extends Error {
  readonly code: ErrorCode | ClientErrorCode;
  readonly httpStatus: number;
  constructor(code: ErrorCode | ClientErrorCode, httpStatus: number, message: string) {
    super(message);
    this.name = 'NlTradeError';
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

/** The error for an answer's body: its catalog code when it has one. */
export function errorFromBody(httpStatus: number, body: unknown): NlTradeError {
  const b = (body ?? {}) as { code?: unknown; message?: unknown };
  const code = isErrorCode(b.code) ? b.code : 'HTTP_ERROR';
  return new NlTradeError(code, httpStatus, typeof b.message === 'string' ? b.message : `HTTP ${httpStatus}`);
}
