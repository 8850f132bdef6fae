import { AppError, CONSOLE_ROLES, type ConsoleSessionView, LIMITS, type SessionInfo } from '@nltrade/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleUser } from '../../services/console-users.ts';
import { cookieValues, SESSION_COOKIE, type SessionAuth } from '../../services/sessions.ts';
import type { System } from '../../system.ts';
import { checkCsrf, sessionOf } from '../auth.ts';
import { type RouteOptions, typed, V1_ERROR } from '../schemas.ts';

/** Sign-in attempts one client may make per minute, whatever the names: each costs a scrypt hash. */
const SIGN_INS_PER_MINUTE = 30;

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, V1_ERROR]));

const TAGS = ['Console'];

const LOGIN_BODY = {
  type: 'object',
  required: ['name', 'password'],
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: LIMITS.accountNameChars,
      description: 'The console user’s name (case does not matter).',
    },
    password: { type: 'string', minLength: 1, maxLength: LIMITS.passwordMaxChars * 4 },
  },
  additionalProperties: false,
} as const;

const SESSION_USER = {
  type: 'object',
  required: ['id', 'name', 'role', 'merchant_id', 'account_id'],
  properties: {
    id: { type: 'string', description: 'The console user’s id.' },
    name: { type: 'string' },
    role: { type: 'string', enum: CONSOLE_ROLES },
    merchant_id: { type: ['string', 'null'], description: 'The merchant a merchant user acts for.' },
    account_id: { type: ['string', 'null'], description: 'The trader’s or administrator’s account.' },
  },
  additionalProperties: false,
} as const;

const SESSION = {
  type: 'object',
  description: 'The signed-in console user and what the page needs to call the API with the session cookie.',
  required: ['user', 'csrf_token', 'expires_at'],
  properties: {
    user: SESSION_USER,
    csrf_token: {
      type: 'string',
      description: 'Send it as `X-CSRF-Token` with every request other than GET, HEAD and OPTIONS made with the session cookie.',
    },
    expires_at: {
      type: 'string',
      format: 'date-time',
      description: 'When the session ends at the latest (7 days after sign-in); it ends sooner after 12 hours unused.',
    },
  },
  additionalProperties: false,
} as const;

const STATUS_TRUE = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'boolean', enum: [true] } },
  additionalProperties: false,
} as const;

const SESSION_LIST = {
  type: 'object',
  required: ['data'],
  properties: {
    data: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'created_at', 'last_seen_at', 'expires_at', 'ip', 'user_agent', 'current'],
        properties: {
          id: { type: 'string' },
          created_at: { type: 'string', format: 'date-time' },
          last_seen_at: { type: 'string', format: 'date-time', description: 'Updated at most once a minute.' },
          expires_at: { type: 'string', format: 'date-time', description: 'The absolute end; 12 hours unused end it sooner.' },
          ip: { type: 'string', description: 'The address it was signed in from.' },
          user_agent: { type: ['string', 'null'] },
          current: { type: 'boolean', description: 'True for the session making this request.' },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

const SESSION_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 20 } },
  additionalProperties: false,
} as const;

const iso = (ms: number) => new Date(ms).toISOString();

function sessionBody(user: ConsoleUser, csrfToken: string, expiresAt: number): SessionInfo {
  return {
    user: { id: user.id, name: user.name, role: user.role, merchant_id: user.merchantId, account_id: user.accountId },
    csrf_token: csrfToken,
    expires_at: iso(expiresAt),
  };
}

/** The cookie's attributes: never readable by scripts, not sent on other sites' subrequests, HTTPS-only behind an https PUBLIC_URL. */
function cookie(system: System, value: string, maxAgeSeconds: number): string {
  const secure = system.config.publicUrl?.startsWith('https:') ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure}`;
}

/**
 * A sign-in form posted from another site would sign the victim in as the attacker (login
 * CSRF). The body must be JSON, which no cross-site form can send without a CORS preflight
 * this server never grants, and a browser's Origin, when sent, must be this site.
 */
function checkSameSite(system: System, request: FastifyRequest): void {
  const type = String(request.headers['content-type'] ?? '');
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Sign in with a JSON body');
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const refused = () => new AppError('CSRF_FAILED', 'Sign in from the console’s own page');
  let from: URL;
  try {
    from = new URL(origin);
  } catch {
    throw refused();
  }
  // Through URL, so `host:443` and `host` (a default port written out or not) compare equal.
  const own = (hostHeader: string | undefined): boolean => {
    if (hostHeader === undefined) return false;
    try {
      return new URL(`${from.protocol}//${hostHeader}`).host === from.host;
    } catch {
      return false;
    }
  };
  const publicUrl = system.config.publicUrl ? new URL(system.config.publicUrl) : undefined;
  if (!own(request.headers.host) && from.origin !== publicUrl?.origin) throw refused();
}

/** The current session, or UNAUTHORIZED (the cookie is cleared too, so the page stops sending a dead one). */
async function requireSession(system: System, request: FastifyRequest, reply: FastifyReply): Promise<SessionAuth> {
  const auth = await sessionOf(system, request);
  if (!auth) {
    if (cookieValues(request.headers.cookie, SESSION_COOKIE).length > 0) reply.header('set-cookie', cookie(system, '', 0));
    throw new AppError('UNAUTHORIZED', 'Not signed in, or the session has ended');
  }
  return auth;
}

/** Web console sign-in: the session cookie, its CSRF token, signing out, the user's sessions. */
export async function sessionRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  const signIns = system.limits.window('sign-in', SIGN_INS_PER_MINUTE);

  // What these answer (a CSRF token, who is signed in) is never for a cache.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    return payload;
  });

  app.post(
    '/v1/session',
    {
      schema: {
        operationId: 'signIn',
        summary: 'Sign in to the web console',
        description:
          'Checks the name and password and sets the `nltrade_session` cookie (HttpOnly, SameSite=Lax, Secure when PUBLIC_URL is https). A wrong name, a wrong password and a disabled user get the same 401 `INVALID_CREDENTIALS`. Repeated failures for one name from one address are slowed and then locked for a while (429 `RATE_LIMITED` with Retry-After); other addresses are not affected. The body must be JSON.',
        tags: TAGS,
        security: [],
        body: LOGIN_BODY,
        response: { 200: SESSION, ...errors(400, 401, 403, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      checkSameSite(system, request);
      const wait = await signIns.count(request.clientIp);
      if (wait > 0) {
        throw new AppError('RATE_LIMITED', `Too many sign-ins from your address; try again in ${wait} s`, { retryAfterSeconds: wait });
      }
      const { name, password } = request.body;
      const userAgent = request.headers['user-agent'];
      const result = await system.sessions.login(name, password, { ip: request.clientIp, userAgent });
      // Signing in again in the same browser replaces its session rather than leaving one behind.
      for (const previous of cookieValues(request.headers.cookie, SESSION_COOKIE).slice(0, 3)) await system.sessions.logout(previous);
      const maxAge = Math.floor((result.expiresAt - system.clock.now()) / 1000);
      reply.header('set-cookie', cookie(system, result.token, maxAge));
      return sessionBody(result.user, result.csrfToken, result.expiresAt);
    },
  );

  app.get(
    '/v1/session',
    {
      schema: {
        operationId: 'getSession',
        summary: 'The signed-in console user',
        description: 'The same answer as signing in, for the session cookie sent; 401 `UNAUTHORIZED` without a live session.',
        tags: TAGS,
        security: [],
        response: { 200: SESSION, ...errors(401) },
      },
    },
    async (request, reply) => {
      const { user, session } = await requireSession(system, request, reply);
      return sessionBody(user, session.csrfToken, session.expiresAt);
    },
  );

  app.delete(
    '/v1/session',
    {
      schema: {
        operationId: 'signOut',
        summary: 'Sign out of the web console',
        description: 'Ends the session of the cookie sent (needs `X-CSRF-Token`) and clears the cookie.',
        tags: TAGS,
        security: [],
        response: { 200: STATUS_TRUE, ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      const { session } = await requireSession(system, request, reply);
      checkCsrf(request, session);
      await system.sessions.revoke(session.userId, session.id);
      reply.header('set-cookie', cookie(system, '', 0));
      return { status: true as const };
    },
  );

  app.get(
    '/v1/sessions',
    {
      schema: {
        operationId: 'listSessions',
        summary: 'The signed-in user’s sessions',
        description: 'Every live session of the console user (other browsers and devices included), most recently used first.',
        tags: TAGS,
        security: [],
        response: { 200: SESSION_LIST, ...errors(401) },
      },
    },
    async (request, reply) => {
      const { session } = await requireSession(system, request, reply);
      const list = await system.sessions.list(session.userId);
      return {
        data: list.map(
          (s): ConsoleSessionView => ({
            id: s.id,
            created_at: iso(s.createdAt),
            last_seen_at: iso(s.lastSeenAt),
            expires_at: iso(s.expiresAt),
            ip: s.ip,
            user_agent: s.userAgent,
            current: s.id === session.id,
          }),
        ),
      };
    },
  );

  app.delete(
    '/v1/sessions/:id',
    {
      schema: {
        operationId: 'revokeSession',
        summary: 'Sign out one of the user’s sessions',
        description: 'Ends one of the signed-in user’s own sessions (needs `X-CSRF-Token`); anyone else’s is 404 `NOT_FOUND`.',
        tags: TAGS,
        security: [],
        params: SESSION_PARAMS,
        response: { 200: STATUS_TRUE, ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { session } = await requireSession(system, request, reply);
      checkCsrf(request, session);
      await system.sessions.revoke(session.userId, request.params.id);
      if (request.params.id === session.id) reply.header('set-cookie', cookie(system, '', 0));
      return { status: true as const };
    },
  );
}
