import { RUNTIME_SETTING_KEYS } from '@nltrade/core';
import type { FastifyInstance } from 'fastify';
import { accountOf, guardRole } from '../auth.ts';
import { type RouteOptions, typed } from '../schemas.ts';

const TAGS = ['Admin'];

const SET_BODY = {
  type: 'object',
  required: ['key', 'value'],
  properties: {
    key: { type: 'string', enum: RUNTIME_SETTING_KEYS },
    value: {
      anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 20 }],
      description: 'Seconds, within the bounds of the environment variable of the same name.',
    },
  },
  additionalProperties: false,
} as const;

const HISTORY_QUERY = {
  type: 'object',
  properties: { key: { type: 'string', enum: RUNTIME_SETTING_KEYS }, limit: { type: 'integer', minimum: 1, maximum: 500 } },
  additionalProperties: false,
} as const;

/** Administrators: the settings that may change while the system runs (the timeouts), with their history. */
export async function settingsRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  guardRole(app, system, 'admin');

  app.get(
    '/v1/admin/settings',
    {
      schema: {
        tags: TAGS,
        summary: 'Settings changeable at run time',
        description: 'Each with its value in force, the configured one (environment or default) and its last change.',
      },
    },
    async () => ({ data: await system.runtimeSettings.list() }),
  );

  app.post(
    '/v1/admin/settings',
    {
      schema: {
        tags: TAGS,
        summary: 'Change a setting at run time',
        description:
          'Applies from the next transition on, in this process at once and in others within 5 seconds; deadlines already set stay as they were.',
        body: SET_BODY,
      },
    },
    async (request) => system.runtimeSettings.set(request.body.key, request.body.value, { type: 'admin', id: accountOf(request).id }),
  );

  app.get(
    '/v1/admin/settings/history',
    { schema: { tags: TAGS, summary: 'Changes of the run-time settings, newest first', querystring: HISTORY_QUERY } },
    async (request) => ({ data: await system.runtimeSettings.history(request.query.key, request.query.limit) }),
  );
}
