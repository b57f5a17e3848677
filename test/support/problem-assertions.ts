import { expect } from '@jest/globals';
import type { Response } from 'supertest';
import type { ProblemDetails } from '../../src/common/problem/problem-details';
import { bodyOf } from './http-body';

/** The exact member set of our problem bodies (RFC 9457 + `code`, `instance`, `requestId`). */
const LIMIT_CODES: ReadonlySet<string> = new Set([
  'too_many_requests',
  'limit_reached',
]);
const PROBLEM_MEMBERS = [
  'code',
  'detail',
  'instance',
  'requestId',
  'status',
  'title',
  'type',
];

/**
 * Asserts an RFC 9457 problem+json answer with this status and code, carrying only the members
 * the API documents (plus `errors` for validation), and none of the `secrets` anywhere in its
 * body or headers (case-insensitive).
 */
export function expectProblem(
  response: Response,
  status: number,
  code: string,
  secrets: readonly string[] = [],
): void {
  const summary = `${response.status} ${JSON.stringify(response.body)}`;
  expect({
    status: response.status,
    code: bodyOf<ProblemDetails | undefined>(response)?.code,
    summary,
  }).toEqual({ status, code, summary });
  expect(response.headers['content-type']).toMatch(
    /^application\/problem\+json; charset=utf-8$/,
  );
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.body).toMatchObject({
    type: `/problems/${code.replace(/_/g, '-')}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
    instance: expect.stringMatching(/^\/[^?]*$/),
    requestId: response.headers['x-request-id'],
  });
  const members = Object.keys(bodyOf<ProblemDetails>(response));
  // A limit's refusal may name the setting that said no (`limit`) and its value (`max`);
  // validation lists `errors`.
  const extensions =
    code === 'validation_failed'
      ? ['errors']
      : LIMIT_CODES.has(code)
        ? members.filter((member) => member === 'limit' || member === 'max')
        : [];
  expect(members.sort()).toEqual([...PROBLEM_MEMBERS, ...extensions].sort());
  expectNoSecrets(response, secrets);
}

/** None of `secrets` (case-insensitive) in the raw body text or any header value. */
export function expectNoSecrets(
  response: Response,
  secrets: readonly string[],
): void {
  const haystack = (
    response.text +
    '\n' +
    JSON.stringify(response.headers)
  ).toLowerCase();
  for (const secret of secrets) {
    if (secret)
      expect({
        leaked: haystack.includes(secret.toLowerCase()),
        secret,
      }).toEqual({ leaked: false, secret });
  }
}

/** The `field` of every entry of a validation problem's `errors`, sorted. */
export function errorFields(response: Response): string[] {
  const errors = bodyOf<ProblemDetails | undefined>(response)?.errors ?? [];
  return errors.map((error) => error.field).sort();
}
