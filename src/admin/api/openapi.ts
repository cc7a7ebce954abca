import { z } from 'zod';
import { ADMIN_API_SCOPE } from '../../domain/clients.ts';
import type { ApiRoute } from './routes.ts';
import { problem } from './schemas.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;

/** Each field of an object schema as an OpenAPI parameter (path or query). */
function parametersOf(schema: z.ZodType, where: 'path' | 'query') {
  const shape = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(shape.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (shape.required ?? []).includes(name),
      schema: rest,
      ...(description ? { description } : {}),
    };
  });
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/**
 * The OpenAPI 3.1 document, generated from the very schemas that validate the requests (and the
 * route table the router mounts), so the two cannot drift.
 */
export function openApiDocument(routes: readonly ApiRoute[], issuer: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const body = route.body.safeParse(undefined).success && !(route.body instanceof z.ZodObject) ? undefined : route.body;
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      summary: route.summary,
      description: route.who === 'helpdesk' ? 'Helpdesk only.' : 'Helpdesk, or an administrator of the school concerned.',
      operationId: `${route.method}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase())}`,
      parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
      ...(body
        ? {
            requestBody: {
              required: !body.safeParse(undefined).success,
              content: { 'application/json': { schema: jsonSchema(body, 'input') } },
            },
          }
        : {}),
      responses: {
        ...Object.fromEntries(
          Object.entries(route.responses).map(([status, schema]) => [
            status,
            status === '204'
              ? { description: 'Done' }
              : { description: 'OK', content: { 'application/json': { schema: jsonSchema(schema, 'output') } } },
          ]),
        ),
        400: problemResponse('The request is not valid (each field named in `errors`)'),
        401: problemResponse('No valid access token'),
        403: problemResponse('The caller may not do this (another school, or helpdesk only)'),
        404: problemResponse('No such resource (or not visible to the caller)'),
        ...(body ? { 415: problemResponse('The body is not uncompressed application/json') } : {}),
        ...Object.fromEntries(Object.entries(route.problems ?? {}).map(([status, description]) => [status, problemResponse(description)])),
        503: problemResponse('The database is unavailable for a moment (with Retry-After)'),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse management API',
      version: '1',
      description: 'Schools, their staff, people and the audit trail, for the helpdesk and school administrators.',
    },
    servers: [{ url: `${issuer}/api/v1` }],
    security: [{ gatehouse: [ADMIN_API_SCOPE] }],
    components: {
      securitySchemes: {
        gatehouse: {
          type: 'oauth2',
          description: 'A machine client with an API role (`client add --grant-type client_credentials --api-role ...`).',
          flows: {
            clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { [ADMIN_API_SCOPE]: 'Administer schools, staff and accounts' } },
          },
        },
      },
      schemas: { Problem: jsonSchema(problem, 'output') },
    },
    paths,
  };
}
