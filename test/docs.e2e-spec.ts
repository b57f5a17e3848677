import request from 'supertest';
import { BEARER_AUTH_NAME } from '../src/common/openapi/bearer-auth';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

/** The parts of the OpenAPI document the checks below read. */
interface OpenApiDocument {
  openapi: string;
  components: {
    securitySchemes: Record<string, unknown>;
    schemas: Record<string, { required?: string[] }>;
  };
  paths: Record<
    string,
    Record<
      string,
      { responses: Record<string, { content?: Record<string, unknown> }> }
    >
  >;
}

describe('API documentation (docs/http-api.md#api-documentation)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('serves Swagger UI at /docs', async () => {
    const response = await http().get('/docs').redirects(1);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    expect(response.text).toContain('swagger-ui');
    const init = await http().get('/docs/swagger-ui-init.js');
    expect(init.status).toBe(200);
    expect(init.text).toContain('"swaggerDoc"');
  });

  it('serves the OpenAPI 3 document at /docs-json with a bearer scheme and the problem schema', async () => {
    const response = await http().get('/docs-json');
    expect(response.status).toBe(200);
    const document = bodyOf<OpenApiDocument>(response);
    expect(document.openapi).toMatch(/^3\./);
    expect(document.components.securitySchemes[BEARER_AUTH_NAME]).toMatchObject(
      { type: 'http', scheme: 'bearer' },
    );
    expect(document.components.schemas.ProblemDetails.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code']),
    );
    expect(
      document.paths['/health/ready'].get.responses['503'].content?.[
        'application/problem+json'
      ],
    ).toBeDefined();
  });
});
