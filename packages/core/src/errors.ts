/**
 * The single error catalog. Every error the system reports to a client is one of these
 * codes; the server maps them to HTTP answers in exactly one place (server/http/errors.ts).
 *
 * `refusal` marks business refusals: the request was understood and authenticated, and the
 * answer is "no" (unknown invoice, a move the state machine refuses, an invalid field). The
 * Remote Invoice API answers those with HTTP 200 and `status: false`, as the original did
 * and as its clients expect; every other surface uses `status`.
 */
export const ERROR_CATALOG = {
  BAD_REQUEST: { status: 400, message: 'Invalid request' },
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid', refusal: true },
  FIELD_NOT_ALLOWED: { status: 400, message: 'This field cannot be changed', refusal: true },
  UNKNOWN_REQUEST_TYPE: { status: 400, message: 'Unknown request type', refusal: true },
  INVALID_AMOUNT: { status: 400, message: 'The amount is not valid', refusal: true },
  INVALID_CARD: { status: 400, message: 'The card number is not valid', refusal: true },
  KEY_TOO_OLD: { status: 400, message: 'Your key is too old' },
  UNAUTHORIZED: { status: 401, message: 'Unknown or missing access token' },
  // One answer for an unknown name, a wrong password and a disabled user: a sign-in form must
  // not tell a guesser which names exist.
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong name or password' },
  FORBIDDEN: { status: 403, message: 'You may not do this', refusal: true },
  CSRF_FAILED: { status: 403, message: 'Missing or wrong X-CSRF-Token header for this session' },
  NOT_YOUR_INVOICE: { status: 403, message: 'This invoice belongs to someone else', refusal: true },
  IP_MISMATCH: { status: 403, message: 'This invoice is bound to another IP address', refusal: true },
  INVOICE_NOT_FOUND: { status: 404, message: 'Invoice not found', refusal: true },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  TRANSITION_REFUSED: { status: 409, message: 'This action is not possible in the invoice’s current status', refusal: true },
  ALREADY_TAKEN: { status: 409, message: 'Another trader has already taken this invoice', refusal: true },
  ALREADY_YOURS: { status: 409, message: 'You have already taken this invoice', refusal: true },
  ALREADY_PAID: { status: 409, message: 'The payer has already paid; the invoice can no longer be removed', refusal: true },
  DEADLINE_PASSED: { status: 409, message: 'The time to pay this invoice has run out', refusal: true },
  IP_NOT_BOUND: { status: 409, message: 'Open the invoice (join its realtime room) before acting on it', refusal: true },
  CONCURRENT_UPDATE: { status: 409, message: 'The invoice changed at the same time; try again', refusal: true },
  UPLOAD_IN_PROGRESS: { status: 409, message: 'A receipt photo for this invoice is already being uploaded', refusal: true },
  INSUFFICIENT_DEPOSIT: {
    status: 409,
    message: 'Your available deposit does not cover this invoice; top up your deposit first',
    refusal: true,
  },
  INSUFFICIENT_FUNDS: { status: 409, message: 'This would take the account below zero', refusal: true },
  // The Idempotency-Key codes are v1-only and say nothing about the invoice, so they are not
  // refusals: were one ever raised on the legacy surface it must not read as "no such invoice".
  IDEMPOTENCY_KEY_IN_USE: { status: 409, message: 'A request with this Idempotency-Key is still being processed; retry later' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported content type' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was already used with other parameters' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  INTERNAL: { status: 500, message: 'Internal server error' },
  UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable' },
} as const satisfies Record<string, { status: number; message: string; refusal?: true }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** The body of every error answer, on every surface. */
export interface ErrorBody {
  status: false;
  code: ErrorCode;
  message: string;
  /** The request field the error is about, when there is one. */
  param?: string;
}

export function isRefusal(code: ErrorCode): boolean {
  return 'refusal' in ERROR_CATALOG[code];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}

/** An error with a catalog code. `message` may refine the catalog text (e.g. name a field). */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERROR_CATALOG[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.details = details;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
