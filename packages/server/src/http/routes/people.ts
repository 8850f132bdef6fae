import {
  type AccountTokenView,
  AppError,
  CONSOLE_ROLES,
  type ConsoleUserView,
  type CreatedConsoleUser,
  type CreatedMerchant,
  LIMITS,
  type MerchantProfile,
  type MerchantRow,
  type MerchantSandboxView,
  type MerchantStateView,
  type MerchantTokenView,
} from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import type { ConsoleUser } from '../../services/console-users.ts';
import type { SandboxState } from '../../services/merchants.ts';
import type { System } from '../../system.ts';
import { guardMerchant, guardRole, merchantOf } from '../auth.ts';
import { type RouteOptions, typed } from '../schemas.ts';

// Who may use the system, managed by administrators, and a merchant's own credentials. Every
// secret made here (an API token, a merchant's access token) is in the answer once and
// stored only hashed.

const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9]{1,18}$' } },
  additionalProperties: false,
} as const;

const NAME = { type: 'string', minLength: 1, maxLength: LIMITS.accountNameChars } as const;
// Looser than the password rule, so a too-long password gets the service's message naming the limit.
const PASSWORD = { type: 'string', minLength: 1, maxLength: LIMITS.passwordMaxChars * 4 } as const;

const CREATE_MERCHANT_BODY = {
  type: 'object',
  required: ['name'],
  properties: { name: NAME, sandbox: { type: 'boolean' } },
  additionalProperties: false,
} as const;

const CREATE_USER_BODY = {
  type: 'object',
  required: ['name', 'password', 'role'],
  properties: {
    name: NAME,
    password: PASSWORD,
    role: { type: 'string', enum: CONSOLE_ROLES },
    merchant_id: { type: 'string', pattern: '^[0-9]{1,18}$' },
  },
  additionalProperties: false,
} as const;

const PASSWORD_BODY = {
  type: 'object',
  required: ['password'],
  properties: { password: PASSWORD },
  additionalProperties: false,
} as const;

const EMPTY = { type: ['object', 'null'], properties: {}, additionalProperties: false } as const;

const SANDBOX_BODY = {
  type: 'object',
  required: ['enabled'],
  properties: { enabled: { type: 'boolean' } },
  additionalProperties: false,
} as const;

const TAGS = ['Admin'];

/** A merchant's public side: what its integration needs to encrypt legacy requests. */
async function merchantProfile(system: System, merchantId: string): Promise<MerchantProfile> {
  const merchant = await system.merchants.get(merchantId);
  if (!merchant) throw new AppError('NOT_FOUND', `No merchant with id ${merchantId}`);
  return {
    id: merchant.id,
    name: merchant.name,
    sandbox: merchant.sandbox,
    public_key: await system.merchants.currentPublicPem(merchant.id),
  };
}

function userView(user: ConsoleUser): ConsoleUserView {
  return {
    id: user.id,
    name: user.name,
    role: user.role,
    account_id: user.accountId,
    merchant_id: user.merchantId,
    disabled: user.disabledAt !== null,
    created_at: user.createdAt,
  };
}

/** Administrators: merchants, traders, administrators and their console logins. */
export async function peopleRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardRole(app, system, 'admin');

  app.get(
    '/v1/admin/merchants',
    { schema: { tags: TAGS, summary: 'List merchants' } },
    async (): Promise<{ data: MerchantRow[] }> => ({
      data: (await system.merchants.list()).map((m) => ({
        id: m.id,
        name: m.name,
        sandbox: m.sandbox,
        disabled: m.disabled,
        created_at: m.createdAt,
      })),
    }),
  );

  for (const change of ['disable', 'enable'] as const) {
    app.post(
      `/v1/admin/merchants/:id/${change}`,
      {
        schema: {
          tags: TAGS,
          summary:
            change === 'disable'
              ? 'Disable a merchant: its token and console users are refused; invoices under way run to their end'
              : 'Enable a disabled merchant again',
          params: ID_PARAMS,
          body: EMPTY,
        },
      },
      async (request): Promise<MerchantStateView> => {
        await system.merchants.setDisabled(request.params.id, change === 'disable');
        return { ...(await merchantProfile(system, request.params.id)), disabled: change === 'disable' };
      },
    );
  }

  app.post(
    '/v1/admin/merchants',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a merchant',
        description: 'The answer carries the merchant’s access token — the only time it is shown.',
        body: CREATE_MERCHANT_BODY,
      },
    },
    async (request, reply) => {
      const made = await system.merchants.create(request.body.name, { sandbox: request.body.sandbox === true });
      const created: CreatedMerchant = { ...(await merchantProfile(system, made.merchantId)), access_token: made.accessToken };
      return reply.code(201).send(created);
    },
  );

  app.post(
    '/v1/admin/merchants/:id/rotate-key',
    { schema: { tags: TAGS, summary: 'Rotate a merchant’s RSA key', params: ID_PARAMS, body: EMPTY } },
    async (request) => {
      await system.merchants.rotateKey(request.params.id);
      return merchantProfile(system, request.params.id);
    },
  );

  app.post(
    '/v1/admin/merchants/:id/token',
    {
      schema: {
        tags: TAGS,
        summary: 'Issue a merchant a new access token',
        description: 'The previous token stops working. The answer carries the new one — the only time it is shown.',
        params: ID_PARAMS,
        body: EMPTY,
      },
    },
    async (request): Promise<MerchantTokenView> => ({ access_token: await system.merchants.reissueToken(request.params.id) }),
  );

  app.post(
    '/v1/admin/accounts/:id/token',
    {
      schema: {
        tags: TAGS,
        summary: 'Issue a trader or administrator a new API token',
        description: 'The previous token stops working. The answer carries the new one — the only time it is shown.',
        params: ID_PARAMS,
        body: EMPTY,
      },
    },
    async (request): Promise<AccountTokenView> => ({ token: await system.accounts.reissueToken(request.params.id) }),
  );

  app.get(
    '/v1/admin/users',
    { schema: { tags: TAGS, summary: 'List console users' } },
    async (): Promise<{ data: ConsoleUserView[] }> => ({
      data: (await system.consoleUsers.list()).map(userView),
    }),
  );

  app.post(
    '/v1/admin/users',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a console user',
        description:
          'A trader or administrator gets a new account with its API token (in the answer, shown once) and a console login; a merchant user signs in to its merchant’s console.',
        body: CREATE_USER_BODY,
      },
    },
    async (request, reply) => {
      const { name, password, role, merchant_id } = request.body;
      if (role === 'merchant') {
        if (merchant_id === undefined)
          throw new AppError('VALIDATION_FAILED', 'A merchant user needs merchant_id', { param: 'merchant_id' });
        if (!(await system.merchants.get(merchant_id))) throw new AppError('NOT_FOUND', `No merchant with id ${merchant_id}`);
        const user = await system.consoleUsers.create({ name, password, role, merchantId: merchant_id });
        return reply.code(201).send(userView(await system.consoleUsers.get(user.id)));
      }
      if (merchant_id !== undefined)
        throw new AppError('VALIDATION_FAILED', 'merchant_id is only for merchant users', { param: 'merchant_id' });
      const made = await system.consoleUsers.createStaff(role, name, password);
      const created: CreatedConsoleUser = { ...userView(await system.consoleUsers.get(made.userId)), token: made.token };
      return reply.code(201).send(created);
    },
  );

  for (const change of ['disable', 'enable'] as const) {
    app.post(
      `/v1/admin/users/:id/${change}`,
      {
        schema: {
          tags: TAGS,
          summary: change === 'disable' ? 'Disable a console user (its sessions end)' : 'Enable a console user',
          params: ID_PARAMS,
          body: EMPTY,
        },
      },
      async (request) => {
        await system.consoleUsers[change](request.params.id);
        return userView(await system.consoleUsers.get(request.params.id));
      },
    );
  }

  app.post(
    '/v1/admin/users/:id/password',
    { schema: { tags: TAGS, summary: 'Set a console user’s password', params: ID_PARAMS, body: PASSWORD_BODY } },
    async (request) => {
      const user = await system.consoleUsers.get(request.params.id);
      await system.consoleUsers.setPassword(user.name, request.body.password);
      return userView(await system.consoleUsers.get(user.id));
    },
  );
}

/** A merchant's own credentials: its public key and its rotation, a new access token. */
export async function merchantSelfRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardMerchant(app, system);

  app.get('/v1/merchant', { schema: { summary: 'The merchant: its name, sandbox flag and current RSA public key' } }, async (request) =>
    merchantProfile(system, merchantOf(request).id),
  );

  app.post(
    '/v1/merchant/rotate-key',
    {
      schema: {
        summary: 'Rotate the merchant’s RSA key',
        description: 'A new key pair becomes current; the previous key is retired (still recognised, never accepted).',
        body: EMPTY,
      },
    },
    async (request) => {
      await system.merchants.rotateKey(merchantOf(request).id);
      return merchantProfile(system, merchantOf(request).id);
    },
  );

  const sandboxView = (state: SandboxState & { accessToken?: string }): MerchantSandboxView => ({
    enabled: state.enabled,
    merchant_id: state.merchantId,
    ...(state.accessToken !== undefined && { access_token: state.accessToken }),
  });

  app.get(
    '/v1/merchant/sandbox',
    { schema: { summary: 'The merchant’s own sandbox: whether it is on, and its merchant id' } },
    async (request) => sandboxView(await system.merchants.sandboxOf(merchantOf(request).id)),
  );

  app.post(
    '/v1/merchant/sandbox',
    {
      schema: {
        summary: 'Switch the merchant’s own sandbox on or off',
        description:
          'On for the first time makes a sandbox merchant (its invoices are served by the simulated trader: test card, no real money) and returns its access_token — the only time it is shown. Off disables it (its token is refused); on again enables it with the same token.',
        body: SANDBOX_BODY,
      },
    },
    async (request) => sandboxView(await system.merchants.setSandbox(merchantOf(request).id, request.body.enabled)),
  );

  app.post(
    '/v1/merchant/token',
    {
      schema: {
        summary: 'Replace the merchant’s access token',
        description: 'The current token stops working; the answer carries the new one — the only time it is shown.',
        body: EMPTY,
      },
    },
    async (request): Promise<MerchantTokenView> => ({ access_token: await system.merchants.reissueToken(merchantOf(request).id) }),
  );
}
