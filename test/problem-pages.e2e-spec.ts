import request from 'supertest';
import {
  ERROR_CATALOGUE,
  ErrorCode,
  problemTypeFor,
} from '../src/common/problem/error-codes';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/http-api.md#errors: every problem `type` URI resolves to a short public HTML page about
 * its code; anything else under /problems/ is a 404 problem like any unknown path, and nothing a
 * caller puts in the URL reaches the page.
 */
describe('problem type pages (GET /problems/:type)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it.each(codes)(
    'resolves the type URI of %s to its page: 200 text/html, no token needed',
    async (code) => {
      const { status, title, description } = ERROR_CATALOGUE[code];
      const response = await http().get(problemTypeFor(code));
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['x-request-id']).toEqual(expect.any(String));
      expect(response.text).toContain(`<h1>${escape(title)}</h1>`);
      expect(response.text).toContain(`<dd>${status}</dd>`);
      expect(response.text).toContain(`<code>${code}</code>`);
      // The description's first words (its `code` spans are rendered as <code>).
      expect(response.text).toContain(escape(description.split('`')[0]));
      expect(response.text).not.toMatch(/<script|<style|\son\w+=|javascript:/i);
    },
  );

  it('answers with a Content-Security-Policy that loads and runs nothing, and a cacheable page', async () => {
    const response = await http().get('/problems/validation-failed');
    const csp = response.headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers['cache-control']).toBe('public, max-age=3600');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('is unversioned: /v1/problems/… is an unknown path', async () => {
    expectProblem(await http().get('/v1/problems/not-found'), 404, 'not_found');
  });

  it.each([
    ['an unknown type', '/problems/no-such-problem'],
    ['a code as written (underscores)', '/problems/validation_failed'],
    ['a type in capitals', '/problems/NOT-FOUND'],
    ['an Object.prototype member', '/problems/constructor'],
    ['__proto__', '/problems/__proto__'],
    ['hasOwnProperty', '/problems/hasOwnProperty'],
    ['an encoded path traversal', '/problems/..%2F..%2Fetc%2Fpasswd'],
    ['a path traversal', '/problems/../../etc/passwd'],
    ['a dot segment', '/problems/..'],
    ['markup', '/problems/%3Cscript%3Ealert(1)%3C%2Fscript%3E'],
    ['an encoded NUL', '/problems/not-found%00'],
    ['a very long slug', `/problems/${'a'.repeat(8000)}`],
    ['no type', '/problems/'],
  ])(
    'answers %s with 404 problem+json, never HTML (the path shows only as `instance`)',
    async (_case, path) => {
      const response = await http().get(path);
      expectProblem(response, 404, 'not_found');
      const { title, detail } = bodyOf<ProblemDetails>(response);
      expect(`${title} ${detail}`).not.toMatch(
        /script|passwd|aaaaaaaa|constructor|__proto__/,
      );
      expect(response.headers['content-type']).not.toMatch(/html/);
    },
  );

  it('answers a POST to a page 404 like any unknown route', async () => {
    const response = await http()
      .post('/problems/not-found')
      .set('Content-Type', 'application/json')
      .send('{}');
    expectProblem(response, 404, 'not_found');
  });
});

function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
