import { expect } from '@jest/globals';
import request from 'supertest';
import { BEARER_AUTH_NAME } from '../src/common/openapi/bearer-auth';
import type { TokenPairDto } from '../src/auth/dto/auth.dto';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/http-api.md#api-documentation: the OpenAPI document at /docs-json describes every /v1 route
 * completely: a summary, a success response with its schema, its errors as problem+json
 * (`ProblemDetails`), the request body with a schema and examples, and the bearer scheme on every
 * route that needs a token. Failures list every gap at once, as "METHOD /path: what is missing".
 */

/**
 * The routes that take no token (docs/http-api.md#authentication); every other /v1 route needs
 * `access-token`.
 */
const PUBLIC_OPERATIONS = new Set([
  'POST /v1/auth/register',
  'POST /v1/auth/login',
  'POST /v1/auth/refresh',
  'POST /v1/auth/recover',
]);
/** POST/PUT/PATCH routes that take no body (docs/http-api.md#request-bodies). */
const BODYLESS_WRITES = new Set(['POST /v1/auth/logout']);
/**
 * Other routes that take a JSON body (docs/http-api.md#request-bodies: DELETE /v1/me takes
 * `{password}`).
 */
const OTHER_BODY_OPERATIONS = new Set(['DELETE /v1/me']);
const PROBLEM_SCHEMA_REF = '#/components/schemas/ProblemDetails';
const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const HTTP_METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'patch',
  'options',
  'head',
  'trace',
] as const;
/** Formats for which Swagger UI renders a meaningful sample value without an `example`. */
const SELF_EXPLAINING_FORMATS = new Set([
  'uuid',
  'date-time',
  'date',
  'email',
  'uri',
  'binary',
]);

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  example?: unknown;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
}
interface MediaType {
  schema?: Schema;
  example?: unknown;
  examples?: Record<string, unknown>;
}
interface Header {
  $ref?: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}
interface Response {
  description?: string;
  content?: Record<string, MediaType>;
  headers?: Record<string, Header>;
}
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; schema?: Schema }[];
  requestBody?: { content?: Record<string, MediaType>; required?: boolean };
  responses: Record<string, Response>;
  security?: Record<string, string[]>[];
}
interface OpenApiDocument {
  openapi: string;
  info: { description?: string };
  servers?: { url: string; description?: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<
    string,
    Partial<Record<(typeof HTTP_METHODS)[number], Operation>>
  >;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes: Record<string, unknown>;
    headers?: Record<string, Header>;
  };
}

/**
 * Names ending in `Id` that are not our UUIDs: `requestId` echoes a caller's id, `nationalId` is
 * a person's national identity number.
 */
const NOT_UUIDS = new Set(['requestId', 'nationalId']);

/**
 * The OpenAPI formats a property must carry, by its name (docs/http-api.md#conventions: ids are
 * UUIDs, dates ISO 8601).
 */
function expectedFormat(name: string): string | undefined {
  if (NOT_UUIDS.has(name)) return undefined;
  if (name === 'id' || /Id$/.test(name)) return 'uuid';
  if (/At$/.test(name)) return 'date-time';
  if (name === 'email') return 'email';
  if (name === 'dateOfBirth') return 'date';
  return undefined;
}

/** camelCase, and not Nest's default `<Controller>_<method>[_v1]`. */
const OPERATION_ID = /^[a-z][a-zA-Z0-9]*$/;

describe('OpenAPI completeness (docs/http-api.md#api-documentation: every /v1 route documented)', () => {
  let t: TestApp;
  let document: OpenApiDocument;
  let operations: {
    key: string;
    method: string;
    path: string;
    op: Operation;
  }[];

  beforeAll(async () => {
    t = await createTestApp();
    const response = await request(t.app.getHttpServer()).get('/docs-json');
    expect(response.status).toBe(200);
    document = response.body as OpenApiDocument;
    operations = Object.entries(document.paths).flatMap(([path, item]) =>
      HTTP_METHODS.filter((method) => item[method]).map((method) => ({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        op: item[method] as Operation,
      })),
    );
  });
  afterAll(() => t?.close());

  const v1 = () => operations.filter(({ path }) => path.startsWith('/v1/'));

  /** Resolves `#/components/schemas/X`. */
  const resolveRef = (schema: Schema): Schema => {
    if (!schema.$ref) return schema;
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = document.components.schemas[name];
    if (!target) throw new Error(`dangling $ref ${schema.$ref}`);
    return target;
  };

  /** Property paths (`a.b[]`) under `schema` that have neither an example nor a self-explaining type. */
  const propertiesWithoutExamples = (
    schema: Schema,
    at = '',
    seen = new Set<string>(),
  ): string[] => {
    if (schema.$ref) {
      if (seen.has(schema.$ref)) return [];
      return propertiesWithoutExamples(
        resolveRef(schema),
        at,
        new Set([...seen, schema.$ref]),
      );
    }
    const composed = [
      ...(schema.allOf ?? []),
      ...(schema.oneOf ?? []),
      ...(schema.anyOf ?? []),
    ];
    if (composed.length > 0)
      return composed.flatMap((part) =>
        propertiesWithoutExamples(part, at, seen),
      );
    if (schema.type === 'array' && schema.items)
      return propertiesWithoutExamples(schema.items, `${at}[]`, seen);
    if (schema.properties) {
      return Object.entries(schema.properties).flatMap(([name, property]) => {
        const where = at ? `${at}.${name}` : name;
        if (
          property.example !== undefined ||
          property.enum ||
          property.default !== undefined
        )
          return [];
        if (
          property.$ref ||
          property.allOf ||
          property.oneOf ||
          property.anyOf ||
          property.items ||
          property.properties
        ) {
          return propertiesWithoutExamples(property, where, seen);
        }
        if (
          property.type === 'boolean' ||
          (property.format && SELF_EXPLAINING_FORMATS.has(property.format))
        )
          return [];
        return [where];
      });
    }
    return [];
  };

  it('lists the /v1 routes in docs/http-api.md#routes (the checks below run over something)', () => {
    const keys = v1().map(({ key }) => key);
    expect(keys).toEqual(
      expect.arrayContaining([
        'POST /v1/auth/register',
        'POST /v1/auth/login',
        'POST /v1/auth/logout',
        'GET /v1/me',
        'DELETE /v1/me',
        'GET /v1/me/profile',
        'PUT /v1/me/profile',
        'PATCH /v1/me/profile',
      ]),
    );
  });

  it("gives every operation a stable camelCase operationId, unique, not Nest's default", () => {
    const gaps: string[] = [];
    const seen = new Map<string, string>();
    for (const { key, op } of operations) {
      const id = op.operationId;
      if (!id) gaps.push(`${key}: no operationId`);
      else if (!OPERATION_ID.test(id) || /Controller|_v\d+$/.test(id))
        gaps.push(`${key}: operationId ${id} is not camelCase`);
      else if (seen.has(id))
        gaps.push(`${key}: operationId ${id} also on ${seen.get(id)}`);
      if (id) seen.set(id, key);
    }
    expect(gaps).toEqual([]);
    // The names docs/http-api.md#api-documentation lists (generated clients call these).
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining([
        'register',
        'login',
        'refreshTokens',
        'getMe',
        'getProfile',
        'createContact',
        'downloadDocument',
        'checkReadiness',
        'getProblemType',
      ]),
    );
  });

  it('gives every operation a description besides its summary, and every response a description', () => {
    const gaps: string[] = [];
    for (const { key, op } of operations) {
      if (!op.description?.trim() || op.description === op.summary)
        gaps.push(`${key}: no description`);
      for (const [status, response] of Object.entries(op.responses))
        if (!response.description?.trim())
          gaps.push(`${key}: ${status} has no description`);
    }
    expect(gaps).toEqual([]);
  });

  it('describes the API with a quick start, names a server, and describes every tag used', () => {
    expect(document.info.description).toContain('Quick start');
    for (const step of [
      '/v1/auth/register',
      'recovery code',
      '/v1/auth/login',
      'Authorize',
      '/v1/me/profile',
      '/v1/auth/refresh',
    ])
      expect(document.info.description).toContain(step);
    expect(document.servers).toEqual([
      { url: '/', description: expect.any(String) },
    ]);
    const described = new Map(
      (document.tags ?? []).map((tag) => [tag.name, tag.description]),
    );
    const gaps = [...new Set(operations.flatMap(({ op }) => op.tags ?? []))]
      .filter((tag) => !described.get(tag)?.trim())
      .map((tag) => `tag ${tag}: no description`);
    expect(gaps).toEqual([]);
    expect(operations.filter(({ op }) => !op.tags?.length)).toEqual([]);
  });

  it('says on every answer that carries a new recovery code that it is shown only once and must be stored now', () => {
    for (const [path, method, status] of [
      ['/v1/auth/register', 'post', '201'],
      ['/v1/auth/recover', 'post', '200'],
      ['/v1/me/keys/rotate', 'post', '200'],
    ] as const) {
      const description =
        document.paths[path][method]!.responses[status].description;
      expect(description).toMatch(/shown only once/);
      expect(description).toMatch(/store it now/);
      expect(description).toMatch(/password is lost/);
    }
  });

  it('documents X-Request-Id on every response and Cache-Control on every problem response; Retry-After on every 429', () => {
    const headers = document.components.headers ?? {};
    expect(headers['X-Request-Id']?.required).toBe(true);
    expect(headers['Cache-Control']?.schema?.enum).toEqual(['no-store']);
    const gaps: string[] = [];
    for (const { key, op } of operations) {
      for (const [status, response] of Object.entries(op.responses)) {
        const documented = response.headers ?? {};
        if (!documented['X-Request-Id'])
          gaps.push(`${key}: ${status} without X-Request-Id`);
        if (
          response.content?.[PROBLEM_CONTENT_TYPE] &&
          !documented['Cache-Control']
        )
          gaps.push(`${key}: ${status} problem without Cache-Control`);
        if (status === '429' && documented['Retry-After']?.required !== true)
          gaps.push(`${key}: 429 without a required Retry-After`);
      }
    }
    expect(gaps).toEqual([]);
  });

  it("names no component schema after its class's Dto suffix", () => {
    const names = Object.keys(document.components.schemas);
    expect(names).toEqual(expect.arrayContaining(['ProblemDetails']));
    expect(names.filter((name) => /Dto$/i.test(name))).toEqual([]);
  });

  it('gives ids, timestamps, emails and dates their formats, and every number the type integer', () => {
    const gaps: string[] = [];
    const check = (where: string, name: string, schema: Schema) => {
      const format = expectedFormat(name);
      if (format && !schema.$ref && schema.format !== format)
        gaps.push(
          `${where}: format ${schema.format ?? '(none)'}, not ${format}`,
        );
      if (schema.type === 'number' || schema.items?.type === 'number')
        gaps.push(
          `${where}: type number (every number of this API is an integer)`,
        );
    };
    for (const [schemaName, schema] of Object.entries(
      document.components.schemas,
    ))
      for (const [name, property] of Object.entries(schema.properties ?? {}))
        check(`schema ${schemaName}.${name}`, name, property);
    for (const { key, op } of operations) {
      for (const parameter of op.parameters ?? [])
        check(
          `${key} ${parameter.in} ${parameter.name}`,
          parameter.name,
          parameter.schema ?? {},
        );
      const limit = op.parameters?.find((p) => p.name === 'limit');
      if (limit && limit.schema?.type !== 'integer')
        gaps.push(`${key}: limit is not an integer`);
    }
    expect(gaps).toEqual([]);
    // The rules above reach the fields they are about.
    expect(
      document.components.schemas.Profile.properties?.dateOfBirth.format,
    ).toBe('date');
    expect(
      document.components.schemas.Session.properties?.createdAt.format,
    ).toBe('date-time');
  });

  it('gives every operation a summary', () => {
    const gaps = operations
      .filter(({ op }) => !op.summary?.trim())
      .map(({ key }) => `${key}: no summary`);
    expect(gaps).toEqual([]);
  });

  it('documents a success response with a schema (or a bare 204) on every /v1 operation', () => {
    const gaps: string[] = [];
    for (const { key, op } of v1()) {
      const successes = Object.keys(op.responses).filter((status) =>
        /^2\d\d$/.test(status),
      );
      if (successes.length === 0) {
        gaps.push(`${key}: no 2xx response`);
        continue;
      }
      for (const status of successes) {
        const content = op.responses[status].content;
        if (status === '204') {
          if (content) gaps.push(`${key}: 204 with a body`);
          continue;
        }
        const schemas = Object.values(content ?? {}).filter(
          (media) => media.schema,
        );
        if (schemas.length === 0)
          gaps.push(`${key}: ${status} without a schema`);
      }
    }
    expect(gaps).toEqual([]);
  });

  it('documents the errors of every /v1 operation as problem+json (ProblemDetails), with 401 on every token route', () => {
    const gaps: string[] = [];
    for (const { key, op } of v1()) {
      const errors = Object.keys(op.responses).filter((status) =>
        /^[45]\d\d$/.test(status),
      );
      if (!errors.some((status) => status.startsWith('4')))
        gaps.push(`${key}: no 4xx response`);
      for (const status of errors) {
        const problem = op.responses[status].content?.[PROBLEM_CONTENT_TYPE];
        if (problem?.schema?.$ref !== PROBLEM_SCHEMA_REF)
          gaps.push(
            `${key}: ${status} is not ${PROBLEM_CONTENT_TYPE} with ${PROBLEM_SCHEMA_REF}`,
          );
        else if (problem.example === undefined)
          gaps.push(`${key}: ${status} problem without an example`);
      }
      if (!PUBLIC_OPERATIONS.has(key) && !errors.includes('401'))
        gaps.push(`${key}: needs a token but documents no 401`);
    }
    expect(gaps).toEqual([]);
  });

  it('documents the JSON request body (schema, every field with an example, and a 400) where a /v1 operation takes one, and none elsewhere', () => {
    const gaps: string[] = [];
    for (const { key, method, op } of v1()) {
      const takesBody =
        (['POST', 'PUT', 'PATCH'].includes(method) &&
          !BODYLESS_WRITES.has(key)) ||
        OTHER_BODY_OPERATIONS.has(key);
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (!takesBody) {
        if (op.requestBody)
          gaps.push(`${key}: documents a request body it does not take`);
        continue;
      }
      if (!schema) {
        gaps.push(`${key}: no application/json request body schema`);
        continue;
      }
      if (!op.requestBody?.required)
        gaps.push(`${key}: request body not marked required`);
      const resolved = resolveRef(schema);
      if (!resolved.properties || Object.keys(resolved.properties).length === 0)
        gaps.push(`${key}: request body schema has no properties`);
      for (const field of propertiesWithoutExamples(schema))
        gaps.push(`${key}: request field ${field} has no example`);
      if (!op.responses['400'])
        gaps.push(`${key}: takes a body but documents no 400`);
    }
    expect(gaps).toEqual([]);
  });

  it('gives every field of the /v1 success responses an example (what Swagger UI shows as "Example Value")', () => {
    const gaps: string[] = [];
    for (const { key, op } of v1()) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (!/^2\d\d$/.test(status)) continue;
        for (const [mediaType, media] of Object.entries(
          response.content ?? {},
        )) {
          if (!media.schema || media.example !== undefined) continue;
          for (const field of propertiesWithoutExamples(media.schema))
            gaps.push(
              `${key}: ${status} ${mediaType} field ${field} has no example`,
            );
        }
      }
    }
    expect(gaps).toEqual([]);
  });

  it('documents every path parameter with a schema', () => {
    const gaps: string[] = [];
    for (const { key, path, op } of v1()) {
      for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
        const parameter = op.parameters?.find(
          (p) => p.in === 'path' && p.name === name,
        );
        if (!parameter?.schema)
          gaps.push(`${key}: path parameter ${name} undocumented`);
      }
    }
    expect(gaps).toEqual([]);
  });

  /** The body Swagger UI's "Try it out" starts from: each property's example, nested objects built alike. */
  const exampleOf = (schema: Schema): unknown => {
    const resolved = resolveRef(schema);
    if (resolved.example !== undefined) return resolved.example;
    if (resolved.allOf?.length === 1) return exampleOf(resolved.allOf[0]);
    if (!resolved.properties) return undefined;
    return Object.fromEntries(
      Object.entries(resolved.properties).map(([name, property]) => [
        name,
        exampleOf(property),
      ]),
    );
  };

  it('accepts the documented example bodies of register and login as they are (Try it out works unedited)', async () => {
    const server = t.app.getHttpServer();
    const exampleBodyOf = (path: string) =>
      exampleOf(
        document.paths[path].post!.requestBody!.content!['application/json']
          .schema!,
      );
    const register = exampleBodyOf('/v1/auth/register') as {
      email: string;
      password: string;
      profile?: unknown;
    };
    expect(register).toMatchObject({
      email: expect.any(String),
      password: expect.any(String),
      profile: expect.any(Object),
    });
    const registered = await request(server)
      .post('/v1/auth/register')
      .send(register);
    expect(registered.status).toBe(201);
    const login = await request(server)
      .post('/v1/auth/login')
      .send(exampleBodyOf('/v1/auth/login') as object);
    expect(login.status).toBe(200);
    const profile = await request(server)
      .get('/v1/me/profile')
      .set(
        'Authorization',
        `Bearer ${bodyOf<TokenPairDto>(login).accessToken}`,
      );
    expect(profile.body).toEqual(register.profile);
  });

  it(`puts the bearer scheme "${BEARER_AUTH_NAME}" on every /v1 route but register, login, refresh and recover`, () => {
    expect(document.components.securitySchemes[BEARER_AUTH_NAME]).toBeDefined();
    const gaps: string[] = [];
    for (const { key, op } of v1()) {
      const schemes = (op.security ?? []).flatMap((requirement) =>
        Object.keys(requirement),
      );
      if (PUBLIC_OPERATIONS.has(key)) {
        if (schemes.length > 0)
          gaps.push(
            `${key}: public, yet documents security ${schemes.join(', ')}`,
          );
      } else if (!schemes.includes(BEARER_AUTH_NAME)) {
        gaps.push(
          `${key}: needs a token, but no "${BEARER_AUTH_NAME}" security`,
        );
      }
    }
    for (const key of PUBLIC_OPERATIONS)
      expect(v1().map((o) => o.key)).toContain(key);
    expect(gaps).toEqual([]);
  });
});
