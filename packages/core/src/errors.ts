/**
 * The single error catalog. Every error the system reports to a client is one of these
 * codes; the server maps them to HTTP answers in exactly one place.
 */
export const ERROR_CATALOG = {
  BAD_REQUEST: { status: 400, message: 'Invalid request' },
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid' },
  FIELD_NOT_ALLOWED: { status: 400, message: 'This field cannot be changed' },
  UNKNOWN_REQUEST_TYPE: { status: 400, message: 'Unknown request type' },
  INVALID_AMOUNT: { status: 400, message: 'The amount is not valid' },
  INVALID_CARD: { status: 400, message: 'The card number is not valid' },
  INVALID_UID: { status: 400, message: 'The invoice UID is not valid' },
  KEY_TOO_OLD: { status: 400, message: 'Your key is too old' },
  UNAUTHORIZED: { status: 401, message: 'Unknown or missing access token' },
  FORBIDDEN: { status: 403, message: 'You may not do this' },
  NOT_YOUR_INVOICE: { status: 403, message: 'This invoice belongs to someone else' },
  IP_MISMATCH: { status: 403, message: 'This invoice is bound to another IP address' },
  INVOICE_NOT_FOUND: { status: 404, message: 'Invoice not found' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  TRANSITION_REFUSED: { status: 409, message: 'This action is not possible in the invoice’s current status' },
  ALREADY_TAKEN: { status: 409, message: 'Another trader has already taken this invoice' },
  ALREADY_PAID: { status: 409, message: 'The payer has already paid; the invoice can no longer be removed' },
  DEADLINE_PASSED: { status: 409, message: 'The time to pay this invoice has run out' },
  IP_NOT_BOUND: { status: 409, message: 'Open the invoice (join its realtime room) before acting on it' },
  CONCURRENT_UPDATE: { status: 409, message: 'The invoice changed at the same time; try again' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported content type' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  INTERNAL: { status: 500, message: 'Internal server error' },
  UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

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
