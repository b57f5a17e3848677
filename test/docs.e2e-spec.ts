import request from 'supertest';
import { BEARER_AUTH_NAME } from '../src/common/openapi/bearer-auth';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
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

  it('serves Swagger UI at /docs (API_DOCS unset: on)', async () => {
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

  it('names a relative server, so generated clients and "Try it out" call the origin that served the document', async () => {
    const document = bodyOf<{ servers: { url: string }[] }>(
      await http().get('/docs-json'),
    );
    expect(document.servers.map((server) => server.url)).toEqual(['/']);
  });

  describe('with API_DOCS=false', () => {
    let off: TestApp;

    beforeAll(async () => {
      off = await createTestApp({ env: { API_DOCS: 'false' } });
    });
    afterAll(() => off?.close());

    it.each([
      '/docs',
      '/docs/',
      '/docs/swagger-ui-init.js',
      '/docs/swagger-ui.css',
      '/docs-json',
      '/docs-yaml',
    ])(
      'answers %s with 404 problem+json, like any unknown path',
      async (path) => {
        const response = await request(off.app.getHttpServer()).get(path);
        expectProblem(response, 404, 'not_found');
      },
    );

    it('still resolves the problem type pages: they belong to the error responses, not to the docs', async () => {
      const response = await request(off.app.getHttpServer()).get(
        '/problems/validation-failed',
      );
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    });

    it('still serves the API itself', async () => {
      const response = await request(off.app.getHttpServer()).get(
        '/health/live',
      );
      expect(response.status).toBe(200);
    });
  });
});
