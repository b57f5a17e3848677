import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import request from 'supertest';
import { serializeOpenApiDocument } from '../src/common/openapi/openapi-document';
import { jsonDifferences } from './support/json-differences';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/http-api.md#the-committed-document: docs/openapi.json, written by `npm run openapi`, is
 * exactly what the running app serves at /docs-json, so clients generated from the file match the
 * API. A change to a route, DTO or decorator without regenerating the file fails here.
 */
const OPENAPI_FILE = join(__dirname, '..', 'docs', 'openapi.json');

describe('docs/openapi.json (npm run openapi)', () => {
  let t: TestApp;
  const text = readFileSync(OPENAPI_FILE, 'utf8');

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('equals what the running app serves at /docs-json', async () => {
    const response = await request(t.app.getHttpServer()).get('/docs-json');
    expect(response.status).toBe(200);
    const differences = jsonDifferences(JSON.parse(text), response.body);
    if (differences.length > 0)
      throw new Error(
        `docs/openapi.json is stale: run npm run openapi\n  ${differences.join('\n  ')}`,
      );
  });

  it("is written as npm run openapi writes it: two-space JSON in the document's key order, a final newline", () => {
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toBe(
      serializeOpenApiDocument(JSON.parse(text) as OpenAPIObject),
    );
  });

  it('reports a stale file with the pointers that differ (the check above can fail)', () => {
    const committed = JSON.parse(text) as {
      paths: Record<string, Record<string, { summary?: string }>>;
    };
    const changed = structuredClone(committed);
    changed.paths['/v1/me'].get.summary = 'something else';
    delete changed.paths['/health/live'];
    expect(jsonDifferences(committed, changed)).toEqual([
      'changed /paths/~1v1~1me/get/summary',
      'missing /paths/~1health~1live',
    ]);
  });
});
