/**
 * @module schemas
 * API-only schemas (path and query parameters, the error body) next to the protocol's.
 */
import { z } from 'zod';
import { ERROR_CODES } from '@airlock/protocol/errors';

export const IdParams = z.object({ id: z.string().min(1).max(128).describe('Sandbox id') });

export const ErrorBodySchema = z
  .object({
    code: z.enum(ERROR_CODES as [string, ...string[]]),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Error' });

export const errorResponses = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: ErrorBodySchema } } },
  401: { description: 'Missing, malformed, wrong, expired or revoked API key', content: { 'application/json': { schema: ErrorBodySchema } } },
  403: {
    description: "The key's role does not allow this (permission_denied), or a project's hard limit (quota_limit)",
    content: { 'application/json': { schema: ErrorBodySchema } },
  },
  404: { description: 'No such sandbox', content: { 'application/json': { schema: ErrorBodySchema } } },
  409: { description: 'The sandbox is not in a state that allows this', content: { 'application/json': { schema: ErrorBodySchema } } },
  422: { description: 'Could not be done (see code)', content: { 'application/json': { schema: ErrorBodySchema } } },
  429: {
    description: "At the server's capacity, a project's quota (quota_exceeded) or the key's rate (rate_limited, with Retry-After)",
    content: { 'application/json': { schema: ErrorBodySchema } },
  },
} as const;
