import { ServerResponse, IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import {
  RateLimitHeadersMiddleware,
  reportRateLimit,
  setRateLimitHeaders,
} from './rate-limit-headers';

const AUTH = { name: 'AUTH_RATE_LIMIT', quota: 100, windowSeconds: 60 };
const LOGIN = { name: 'LOGIN_FAILURE_LIMIT', quota: 10, windowSeconds: 900 };

function newResponse(): ServerResponse {
  return new ServerResponse(new IncomingMessage(new Socket()));
}

describe('setRateLimitHeaders (draft-ietf-httpapi-ratelimit-headers)', () => {
  it('writes one policy as structured-field list members', () => {
    const response = newResponse();
    setRateLimitHeaders(response, AUTH, { remaining: 42, resetSeconds: 18 });
    expect(response.getHeader('RateLimit-Policy')).toBe(
      '"AUTH_RATE_LIMIT";q=100;w=60',
    );
    expect(response.getHeader('RateLimit')).toBe('"AUTH_RATE_LIMIT";r=42;t=18');
  });

  it('lists several policies, a later report of one replacing its earlier one', () => {
    const response = newResponse();
    setRateLimitHeaders(response, AUTH, { remaining: 42, resetSeconds: 18 });
    setRateLimitHeaders(response, LOGIN, { remaining: 0, resetSeconds: 600 });
    setRateLimitHeaders(response, AUTH, { remaining: 41, resetSeconds: 17 });
    expect(response.getHeader('RateLimit-Policy')).toBe(
      '"AUTH_RATE_LIMIT";q=100;w=60, "LOGIN_FAILURE_LIMIT";q=10;w=900',
    );
    expect(response.getHeader('RateLimit')).toBe(
      '"AUTH_RATE_LIMIT";r=41;t=17, "LOGIN_FAILURE_LIMIT";r=0;t=600',
    );
  });

  it('writes whole, non-negative integers (a fraction rounds up, a negative count is 0)', () => {
    const response = newResponse();
    setRateLimitHeaders(
      response,
      { name: 'X', quota: 5, windowSeconds: 0.5 },
      { remaining: -3, resetSeconds: 1.2 },
    );
    expect(response.getHeader('RateLimit-Policy')).toBe('"X";q=5;w=1');
    expect(response.getHeader('RateLimit')).toBe('"X";r=0;t=2');
  });

  it('refuses a name that is not a setting name (it would have to be escaped)', () => {
    expect(() =>
      setRateLimitHeaders(
        newResponse(),
        { name: 'a"b', quota: 1, windowSeconds: 1 },
        { remaining: 1, resetSeconds: 1 },
      ),
    ).toThrow(/not a rate-limit policy name/);
  });

  it('reportRateLimit writes to the response of the current request scope, and does nothing outside one', () => {
    const response = newResponse();
    reportRateLimit(AUTH, { remaining: 1, resetSeconds: 1 });
    new RateLimitHeadersMiddleware().use(
      new IncomingMessage(new Socket()),
      response,
      () => reportRateLimit(AUTH, { remaining: 7, resetSeconds: 9 }),
    );
    expect(response.getHeader('RateLimit')).toBe('"AUTH_RATE_LIMIT";r=7;t=9');
  });
});
