import request from 'supertest';
import { assertStoredAsCiphertext } from '@vault-pii/nest-encryption/testing';
import { Contact } from '../src/contacts/contact.entity';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

interface OpenApiSchema {
  $ref?: string;
  properties?: Record<string, { nullable?: boolean }>;
}
interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: {
          content?: Record<string, { schema?: OpenApiSchema }>;
        };
      }
    >
  >;
  components: { schemas: Record<string, OpenApiSchema> };
}

/**
 * Issue 16: `null` for a field the API does not declare nullable is a 400 naming the field, on
 * every PUT and PATCH the OpenAPI document lists (never a NOT NULL violation answered 500), and
 * `null` for a nullable one is accepted. Driven by `/docs-json`, so a route added later is covered.
 */
describe('null in a request body (every PUT and PATCH of /docs-json)', () => {
  let t: TestApp;
  let user: LoggedInUser;
  let contactId: string;
  const cases: {
    method: string;
    path: string;
    field: string;
    nullable: boolean;
  }[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    user = await registerAndLogin(t.app.getHttpServer());
    const created = await request(t.app.getHttpServer())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName: 'Nellie Null', phone: '+1 555 0100' });
    contactId = (created.body as { id: string }).id;

    const spec = (await request(t.app.getHttpServer()).get('/docs-json'))
      .body as OpenApiDocument;
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (method !== 'put' && method !== 'patch') continue;
        let schema =
          operation.requestBody?.content?.['application/json']?.schema;
        if (schema?.$ref)
          schema =
            spec.components.schemas[schema.$ref.split('/').pop() as string];
        for (const [field, property] of Object.entries(
          schema?.properties ?? {},
        ))
          cases.push({
            method,
            path,
            field,
            nullable: property.nullable === true,
          });
      }
    }
  }, 60_000);

  afterAll(() => t?.close());

  const send = (method: string, path: string, body: object) =>
    request(t.app.getHttpServer())
      [method as 'put' | 'patch'](path.replace('{id}', contactId))
      .set(...bearer(user.accessToken))
      .send(body);

  it('finds the PUT and PATCH bodies to probe', () => {
    expect(cases.map((c) => `${c.method} ${c.path} ${c.field}`)).toEqual(
      expect.arrayContaining([
        'patch /v1/contacts/{id} fullName',
        'patch /v1/contacts/{id} phone',
        'patch /v1/me/profile fullName',
      ]),
    );
  });

  it('answers 400 naming the field for null where the field is not nullable', async () => {
    const strict = cases.filter((c) => !c.nullable && c.method === 'patch');
    expect(strict.length).toBeGreaterThan(0);
    for (const { method, path, field } of strict) {
      const response = await send(method, path, { [field]: null });
      expectProblem(response, 400, 'validation_failed');
      expect({
        route: `${method} ${path}`,
        fields: (response.body as { errors: { field: string }[] }).errors.map(
          (error) => error.field,
        ),
      }).toEqual({ route: `${method} ${path}`, fields: [field] });
    }
  });

  it('accepts null where the field is nullable (it clears the field)', async () => {
    for (const { method, path, field } of cases.filter(
      (c) => c.nullable && c.method === 'patch',
    )) {
      const response = await send(method, path, { [field]: null });
      expect({
        route: `${method} ${path} ${field}`,
        status: response.status,
      }).toEqual({
        route: `${method} ${path} ${field}`,
        status: 200,
      });
    }
    const contact = await request(t.app.getHttpServer())
      .get(`/v1/contacts/${contactId}`)
      .set(...bearer(user.accessToken));
    expect(contact.body).toMatchObject({
      fullName: 'Nellie Null',
      phone: null,
    });
    // Cleared means NULL in the table (column and blind index), not an encrypted null.
    const stored = await assertStoredAsCiphertext(
      t.dataSource,
      Contact,
      contactId,
      { plaintexts: ['Nellie Null', '+1 555 0100'] },
    );
    expect({ phone: stored.phone, phoneIndex: stored.phone_index }).toEqual({
      phone: null,
      phoneIndex: null,
    });
  });

  it('never answers 500 to a null field, whatever the route', async () => {
    for (const { method, path, field } of cases) {
      const response = await send(method, path, { [field]: null });
      expect({
        route: `${method} ${path} ${field}`,
        status: response.status < 500,
      }).toEqual({
        route: `${method} ${path} ${field}`,
        status: true,
      });
    }
    expect(t.logs.filter((line) => line.msg === 'unhandled error')).toEqual([]);
  });
});
