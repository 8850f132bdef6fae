import { AppError, ERROR_CATALOG, type ErrorBody, type ErrorCode, isRefusal } from '@nltrade/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export type { ErrorBody };

/**
 * Where an error is answered. The Remote Invoice API answers business refusals with HTTP 200
 * and `status: false` (the original client shows "Заявки не існує" only for such an answer,
 * and reads any non-2xx with a message as a transport failure such as "Your key is too
 * old"); envelope and authentication errors keep their HTTP status there too.
 */
export type Surface = 'v1' | 'legacy';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  // A path segment longer than any id we issue names nothing.
  FST_ERR_MAX_PARAM_LENGTH: 'NOT_FOUND',
};

/** character_not_in_repertoire, untranslatable_character. */
const PG_UNSTORABLE_TEXT: ReadonlySet<string> = new Set(['22021', '22P05']);

const NEAREST_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  403: 'NOT_FOUND',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'BAD_REQUEST',
  429: 'RATE_LIMITED',
};

function catalogAnswer(code: ErrorCode): { statusCode: number; body: ErrorBody; unexpected: false } {
  const { status, message } = ERROR_CATALOG[code];
  return { statusCode: status, body: { status: false, code, message }, unexpected: false };
}

/**
 * The one place where errors become HTTP answers. Known errors keep their catalog code and
 * message; anything else is logged and answered as a bare 500, never with a stack.
 */
export function toErrorBody(err: unknown, surface: Surface = 'v1'): { statusCode: number; body: ErrorBody; unexpected: boolean } {
  if (err instanceof AppError) {
    const body: ErrorBody = { status: false, code: err.code, message: err.message };
    const param = err.details?.param;
    if (typeof param === 'string') body.param = param;
    const statusCode = surface === 'legacy' && isRefusal(err.code) ? 200 : err.status;
    return { statusCode, body, unexpected: false };
  }
  const fe = err as Partial<FastifyError> & { validation?: unknown };
  if (fe && typeof fe === 'object') {
    if (fe.validation) {
      return {
        statusCode: 400,
        body: { status: false, code: 'VALIDATION_FAILED', message: String(fe.message ?? ERROR_CATALOG.VALIDATION_FAILED.message) },
        unexpected: false,
      };
    }
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      const message = mapped === 'BAD_REQUEST' ? 'The request body is not valid JSON' : ERROR_CATALOG[mapped].message;
      return { statusCode: ERROR_CATALOG[mapped].status, body: { status: false, code: mapped, message }, unexpected: false };
    }
    if (fe instanceof SyntaxError) return catalogAnswer('BAD_REQUEST');
    // Other libraries' client errors (the static file server refusing a path, say) get the
    // nearest catalog entry; a file it will not serve is simply not found.
    const nearest = typeof fe.statusCode === 'number' ? NEAREST_BY_STATUS[fe.statusCode] : undefined;
    if (nearest) return catalogAnswer(nearest);
    // PostgreSQL refuses text it cannot store (a NUL byte) where SQLite stores it; inputs are
    // checked before they reach a query, and this keeps one that slipped through a 400.
    if (typeof fe.code === 'string' && PG_UNSTORABLE_TEXT.has(fe.code)) {
      return {
        statusCode: 400,
        body: {
          status: false,
          code: 'VALIDATION_FAILED',
          message: 'The request contains a character that cannot be stored (a NUL byte, say)',
        },
        unexpected: false,
      };
    }
  }
  return { statusCode: 500, body: { status: false, code: 'INTERNAL', message: ERROR_CATALOG.INTERNAL.message }, unexpected: true };
}

export function installErrorHandling(app: FastifyInstance, surface: Surface = 'v1'): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { statusCode, body, unexpected } = toErrorBody(err, surface);
    if (unexpected) request.log.error({ err }, 'unexpected error');
    // A refusal that passes with time (a rate limit, a full queue) says when to come back.
    const retryAfter = err instanceof AppError ? err.details?.retryAfterSeconds : undefined;
    if (typeof retryAfter === 'number') reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
    return reply.code(statusCode).type('application/json; charset=utf-8').send(body);
  });
  if (surface === 'legacy') return;
  app.setNotFoundHandler((_request, reply) => {
    const body: ErrorBody = { status: false, code: 'NOT_FOUND', message: ERROR_CATALOG.NOT_FOUND.message };
    return reply.code(404).send(body);
  });
}
