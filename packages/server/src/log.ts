import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TOKEN_PREFIX_LIST } from '@nltrade/core';
import Fastify, { type FastifyBaseLogger, type FastifyServerOptions } from 'fastify';

/** The server's logger: pino, the one Fastify uses (so request lines carry `reqId`). */
export type Logger = FastifyBaseLogger;

/** Fastify's logger options: pino's, plus the destination stream. */
type PinoOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>;

/** Anything lines can be written to (a stream, a test's collector). */
export interface LogDestination {
  write(line: string): void;
}

export interface LoggerOptions {
  /** A pino level (`LOG_LEVEL`), or `silent`. */
  level: string;
  /** Where the JSON lines go; standard output by default. */
  destination?: LogDestination;
}

/**
 * Secrets have recognisable shapes, so the last step before a line is written removes them
 * whatever field (or error message) carries them: access tokens, PEM private keys, and card
 * numbers (16-19 digits, with or without spaces or dashes between groups). The field paths in
 * `REDACT` catch the usual places first, with a clearer result.
 */
const SECRET_PATTERNS: readonly RegExp[] = [
  // A token's prefix and a few characters: a token cut short in a message is still a secret.
  new RegExp(`\\b(?:${TOKEN_PREFIX_LIST.join('|')})_[\\w-]{8,}`, 'g'),
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  // A PEM cut short (a truncated message) has no END line: everything after BEGIN goes.
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[^"]*/g,
  /(?<![\w.])\d(?:[ -]?\d){15,18}(?![\w.])/g,
];

export function scrubSecrets(line: string): string {
  let out = line;
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[redacted]');
  return out;
}

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.card',
  '*.privateKey',
  '*.pem',
];

/**
 * One pino logger for a process (or a System in tests). pino comes with Fastify, which builds
 * it here from the options: one copy of pino, and no dependency of the server's own on it.
 */
export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions: PinoOptions = {
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    hooks: { streamWrite: scrubSecrets },
    ...(options.destination && { stream: options.destination }),
  };
  return Fastify({ logger: pinoOptions }).log;
}

/** A logger that writes nothing (tests, library use without one). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent', destination: { write: () => {} } });
}

/** pino's loggers can flush their buffered destination; a plain stream needs nothing. */
export function flushLogger(log: Logger): Promise<void> {
  const flush = (log as Logger & { flush?: (cb?: (err?: Error) => void) => void }).flush;
  if (typeof flush !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    try {
      flush.call(log, () => resolve());
    } catch {
      resolve();
    }
  });
}

export const REQUEST_ID_HEADER = 'request-id';
const INCOMING_ID_HEADERS = ['x-request-id', 'request-id'] as const;
/** A proxy's id is kept only when it cannot smuggle anything into a log line or a header. */
const SAFE_REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Fastify's `genReqId`: the proxy's `X-Request-Id` when it is a short safe token, else a fresh UUID. */
export function requestIdOf(req: IncomingMessage): string {
  for (const name of INCOMING_ID_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string' && SAFE_REQUEST_ID.test(value)) return value;
  }
  return randomUUID();
}
