import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import request, { Response } from 'supertest';
import {
  bearer,
  registerAndLogin,
  type LoggedInUser,
  type RegisteredUser,
  registerUser,
} from './support/auth-client';
import { describeInBrowser, launchChromium } from './support/chromium';
import { createTestApp, TestApp } from './support/test-app';

// docs/http-api.md#cors: CORS only for the exact origins of CORS_ALLOWED_ORIGINS, no credentials
// mode; without the setting, no CORS header at all.

const ALLOWED_ORIGIN = 'https://app.example.org';
const OTHER_ORIGIN = 'https://evil.example.org';

const corsHeadersOf = (response: Response): string[] =>
  Object.keys(response.headers)
    .filter((name) => name.startsWith('access-control-'))
    .sort();

/** A browser's preflight for a GET with a bearer token. */
const preflight = (server: TestApp, origin: string, path = '/v1/me/profile') =>
  request(server.app.getHttpServer())
    .options(path)
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'GET')
    .set('Access-Control-Request-Headers', 'authorization,x-request-id');

describe('CORS over HTTP', () => {
  describe('CORS_ALLOWED_ORIGINS unset (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(() => t?.close());

    it('answers a preflight as any OPTIONS request: 404 problem+json, no CORS header', async () => {
      const response = await preflight(t, ALLOWED_ORIGIN);
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).toMatch(
        /^application\/problem\+json/,
      );
      expect(corsHeadersOf(response)).toEqual([]);
    });

    it('adds no CORS header to a cross-origin request', async () => {
      const response = await request(t.app.getHttpServer())
        .get('/health/live')
        .set('Origin', ALLOWED_ORIGIN);
      expect(response.status).toBe(200);
      expect(corsHeadersOf(response)).toEqual([]);
    });
  });

  describe(`CORS_ALLOWED_ORIGINS=${ALLOWED_ORIGIN}`, () => {
    let t: TestApp;
    let user: LoggedInUser;
    beforeAll(async () => {
      t = await createTestApp({
        env: {
          CORS_ALLOWED_ORIGINS: `${ALLOWED_ORIGIN},http://localhost:5173`,
        },
      });
      user = await registerAndLogin(t.app.getHttpServer());
    });
    afterAll(() => t?.close());

    it('answers an allowed origin’s preflight 204 with its origin, methods, headers and max-age, and no credentials', async () => {
      const response = await preflight(t, ALLOWED_ORIGIN);
      expect(response.status).toBe(204);
      expect(response.headers).toMatchObject({
        'access-control-allow-origin': ALLOWED_ORIGIN,
        'access-control-allow-methods': 'GET,POST,PUT,PATCH,DELETE',
        'access-control-allow-headers':
          'Authorization,Content-Type,Idempotency-Key,X-Request-Id',
        'access-control-max-age': '600',
      });
      expect(response.headers['access-control-allow-credentials']).toBe(
        undefined,
      );
      expect(String(response.headers.vary)).toMatch(/\bOrigin\b/);
      expect(response.text).toBe('');
    });

    it('lets an allowed origin read the response and the exposed headers, errors included', async () => {
      for (const [authorization, status] of [
        [bearer(user.accessToken)[1], 200],
        ['Bearer not-a-jwt', 401],
      ] as const) {
        const response = await request(t.app.getHttpServer())
          .get('/v1/me/profile')
          .set('Origin', ALLOWED_ORIGIN)
          .set('Authorization', authorization);
        expect(response.status).toBe(status);
        expect(response.headers['access-control-allow-origin']).toBe(
          ALLOWED_ORIGIN,
        );
        expect(response.headers['access-control-expose-headers']).toBe(
          'X-Request-Id,Retry-After,RateLimit,RateLimit-Policy,Location,Content-Disposition,Idempotency-Replayed',
        );
        expect(response.headers['access-control-allow-credentials']).toBe(
          undefined,
        );
      }
    });

    it.each([
      ['another origin', OTHER_ORIGIN],
      ['an allowed host on another scheme', 'http://app.example.org'],
      ['an allowed host on another port', 'https://app.example.org:8443'],
      ['a sub-domain of an allowed origin', 'https://x.app.example.org'],
      ['the opaque origin "null"', 'null'],
    ])(
      'gives %s no CORS header: its preflight is 404, its request unreadable',
      async (_name, origin) => {
        const refused = await preflight(t, origin);
        expect(refused.status).toBe(404);
        expect(corsHeadersOf(refused)).toEqual([]);
        // A shared cache must not hand this answer to an allowed origin, or the reverse.
        expect(String(refused.headers.vary)).toMatch(/\bOrigin\b/);
        const response = await request(t.app.getHttpServer())
          .get('/v1/me/profile')
          .set('Origin', origin)
          .set(...bearer(user.accessToken));
        expect(response.status).toBe(200);
        expect(corsHeadersOf(response)).toEqual([]);
      },
    );
  });
});

const PAGE_HOST = 'app.cors.test';
const OTHER_PAGE_HOST = 'other.cors.test';
const API_HOST = 'api.cors.test';
const BROWSER_TIMEOUT_MS = 30_000;

interface BrowserOutcome {
  ok: boolean;
  error?: string;
  loginStatus?: number;
  loginRateLimit?: string | null;
  profileStatus?: number;
  requestId?: string | null;
  unexposedHeader?: string | null;
  profileEmail?: string;
}

describeInBrowser('CORS browser test')(
  'CORS in a real browser: a page on another origin calls the API with fetch',
  () => {
    let pages: Server;
    let t: TestApp;
    let browser: Browser;
    let user: RegisteredUser;
    let apiBase: string;
    let pagePort: number;
    /** Method and path of every request the API's server received. */
    const received: string[] = [];

    beforeAll(async () => {
      // The page's server first: the allowed origin carries its port.
      pages = createServer((_request, response) => {
        response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        response.end('<!doctype html><title>A web app</title><p>web app</p>');
      });
      await new Promise<void>((resolve) =>
        pages.listen(0, '127.0.0.1', resolve),
      );
      pagePort = (pages.address() as AddressInfo).port;
      t = await createTestApp({
        env: {
          CORS_ALLOWED_ORIGINS: `http://${PAGE_HOST}:${pagePort}`,
        },
      });
      await t.app.listen(0, '127.0.0.1');
      const server = t.app.getHttpServer();
      server.on('request', (incoming: { method: string; url: string }) =>
        received.push(`${incoming.method} ${incoming.url}`),
      );
      apiBase = `http://${API_HOST}:${(server.address() as AddressInfo).port}`;
      user = await registerUser(server);
      browser = await launchChromium({
        hostsToLoopback: [PAGE_HOST, OTHER_PAGE_HOST, API_HOST],
        timeoutMs: BROWSER_TIMEOUT_MS,
      });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await t?.close();
      await new Promise((resolve) => pages?.close(resolve));
    });

    /** On a page of `host`, logs in and reads the profile with fetch, as a web app would. */
    async function callApiFrom(host: string): Promise<BrowserOutcome> {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
        await page.goto(`http://${host}:${pagePort}/`);
        // Browser code as a string: the project compiles without the DOM lib.
        return await page.evaluate<BrowserOutcome>(`(async () => {
          try {
            const login = await fetch(${JSON.stringify(apiBase)} + '/v1/auth/login', {
              method: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify(${JSON.stringify({ email: user.email, password: user.password })}),
            });
            const tokens = await login.json();
            const profile = await fetch(${JSON.stringify(apiBase)} + '/v1/me/profile', {
              headers: { Authorization: 'Bearer ' + tokens.accessToken, 'X-Request-Id': 'cors-browser-0001' },
            });
            return {
              ok: true,
              loginStatus: login.status,
              loginRateLimit: login.headers.get('RateLimit'),
              profileStatus: profile.status,
              requestId: profile.headers.get('X-Request-Id'),
              unexposedHeader: profile.headers.get('X-Content-Type-Options'),
              profileEmail: (await profile.json()).email,
            };
          } catch (error) {
            return { ok: false, error: String(error) };
          }
        })()`);
      } finally {
        await context.close();
      }
    }

    it('from the allowed origin: login and a bearer GET (both preflighted) succeed, and X-Request-Id is readable', async () => {
      received.length = 0;
      const outcome = await callApiFrom(PAGE_HOST);
      expect(outcome).toMatchObject({
        ok: true,
        loginStatus: 200,
        profileStatus: 200,
        requestId: 'cors-browser-0001',
        // Not exposed: the browser hides it from the script.
        unexposedHeader: null,
      });
      expect(outcome.loginRateLimit).toMatch(/^"AUTH_RATE_LIMIT";r=\d+;t=\d+$/);
      expect(received).toEqual([
        'OPTIONS /v1/auth/login',
        'POST /v1/auth/login',
        'OPTIONS /v1/me/profile',
        'GET /v1/me/profile',
      ]);
    });

    it('from an origin not in the setting: the browser blocks it (fetch rejects), and the login is never sent', async () => {
      received.length = 0;
      const outcome = await callApiFrom(OTHER_PAGE_HOST);
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toMatch(/TypeError: Failed to fetch/);
      expect(received).toEqual(['OPTIONS /v1/auth/login']);
    });
  },
);
