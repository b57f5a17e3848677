import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import {
  type Browser,
  type ConsoleMessage,
  type Locator,
  type Page,
} from 'playwright-core';
import { registerUser, type RegisteredUser } from './support/auth-client';
import { describeInBrowser, launchChromium } from './support/chromium';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/http-api.md#api-documentation "Swagger UI with bearer Authorize", checked in a real browser:
 * Debian's Chromium driven by playwright-core (test/support/chromium.ts: skipped without it unless
 * BROWSER_TESTS=required). Log in through "Try it out", paste the token into "Authorize", then
 * read the profile, exactly as a person would.
 */
const SCREENSHOT_PATH = resolve(
  __dirname,
  '..',
  'test-artifacts',
  'swagger-ui-profile.png',
);
const UI_TIMEOUT_MS = 30_000;
const DOCS_HOST = 'swagger-ui.test';

/**
 * Chromium's own notes about headers it ignores on a plain-HTTP origin (helmet sends COOP; it only
 * applies over HTTPS or on localhost). Not errors of the app's scripts, nor CSP violations.
 */
const BROWSER_NOTICES = [
  /The Cross-Origin-Opener-Policy header has been ignored, because the URL's origin was untrustworthy/,
];

const describeInBrowserIfAvailable = describeInBrowser(
  'Swagger UI browser test',
);

describeInBrowserIfAvailable(
  'Swagger UI in a real browser (docs/http-api.md#api-documentation: /docs with bearer Authorize)',
  () => {
    let t: TestApp | undefined;
    let browser: Browser | undefined;
    let page: Page;
    let baseUrl: string;
    let user: RegisteredUser;
    /** Console errors from our origin, uncaught page errors and CSP violations: each one fails the test. */
    const browserErrors: string[] = [];
    /** Console errors from elsewhere (there should be none with a closed network): printed only. */
    const otherConsoleErrors: string[] = [];

    beforeAll(async () => {
      t = await createTestApp();
      await t.app.listen(0, '127.0.0.1');
      const { port } = t.app.getHttpServer().address() as AddressInfo;
      // A host name that is not loopback, mapped to the app inside Chromium: the browser then treats
      // the page as a plain-HTTP site (as a LAN or container deployment), not as a secure localhost
      // (helmet's `upgrade-insecure-requests` once broke exactly that case).
      baseUrl = `http://${DOCS_HOST}:${port}`;
      user = await registerUser(t.app.getHttpServer());

      browser = await launchChromium({
        hostsToLoopback: [DOCS_HOST],
        timeoutMs: UI_TIMEOUT_MS,
      });
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 },
      });
      context.setDefaultTimeout(UI_TIMEOUT_MS);
      page = await context.newPage();
      // A CSP violation raises this DOM event (and a console error); record both.
      // (Browser code as strings: the project compiles without the DOM lib.)
      await page.addInitScript(`
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.__cspViolations.push(event.effectiveDirective + ' blocked ' + (event.blockedURI || 'inline') +
          ' (' + event.sourceFile + ':' + event.lineNumber + ')');
      });
    `);
      page.on('console', (message: ConsoleMessage) => {
        if (message.type() !== 'error') return;
        const where = message.location().url;
        const text = `console.error: ${message.text()}${where ? ` (at ${where})` : ''}`;
        if (BROWSER_NOTICES.some((notice) => notice.test(message.text())))
          return;
        if (
          where.startsWith(baseUrl) ||
          /content security policy/i.test(message.text())
        )
          browserErrors.push(text);
        else otherConsoleErrors.push(text);
      });
      page.on('pageerror', (error) =>
        browserErrors.push(`uncaught: ${error.message}`),
      );
      page.on('requestfailed', (request) =>
        browserErrors.push(
          `request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`,
        ),
      );
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await t?.close();
    });

    it('logs in with "Try it out", authorizes with the bearer token and reads the profile (200)', async () => {
      try {
        const docsResponse = await page.goto(`${baseUrl}/docs`, {
          waitUntil: 'load',
        });
        expect(docsResponse?.status()).toBe(200);
        await page
          .locator('.swagger-ui .information-container .title')
          .waitFor();

        // 1. POST /v1/auth/login: Try it out, the user's credentials, Execute.
        const loginOp = await expandOperation(page, 'auth', 'login');
        await loginOp.getByRole('button', { name: 'Try it out' }).click();
        await loginOp
          .locator('textarea.body-param__text')
          .fill(
            JSON.stringify(
              { email: user.email, password: user.password },
              null,
              2,
            ),
          );
        const [loginResponse] = await Promise.all([
          page.waitForResponse(
            (r) =>
              r.url() === `${baseUrl}/v1/auth/login` &&
              r.request().method() === 'POST',
          ),
          loginOp.getByRole('button', { name: 'Execute' }).click(),
        ]);
        expect(loginResponse.status()).toBe(200);
        const loginRendered = await renderedResponse(loginOp);
        expect(loginRendered.status).toBe('200');
        const { accessToken } = JSON.parse(loginRendered.body) as {
          accessToken: string;
        };
        expect(accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

        // 2. Authorize: paste the token into the `access-token` bearer scheme, close the dialog.
        await page.locator('.scheme-container button.authorize').click();
        const dialog = page.locator('.dialog-ux .modal-ux');
        await dialog.waitFor();
        const scheme = dialog
          .locator('.auth-container')
          .filter({ hasText: 'access-token' });
        await scheme.locator('#auth-bearer-value').fill(accessToken);
        await scheme.getByRole('button', { name: 'Apply credentials' }).click();
        await scheme
          .getByRole('button', { name: 'Remove authorization' })
          .waitFor(); // now "Logout": authorized
        // One Close per scheme (access-token, access-key): any of them closes the dialog.
        await dialog.getByRole('button', { name: 'Close' }).first().click();
        await dialog.waitFor({ state: 'detached' });
        await page
          .locator('.scheme-container button.authorize.locked')
          .waitFor();

        // 3. GET /v1/me/profile: Try it out, Execute, a rendered 200 with the profile JSON.
        const profileOp = await expandOperation(page, 'me', 'getProfile');
        await profileOp.getByRole('button', { name: 'Try it out' }).click();
        const [profileResponse] = await Promise.all([
          page.waitForResponse(
            (r) =>
              r.url() === `${baseUrl}/v1/me/profile` &&
              r.request().method() === 'GET',
          ),
          profileOp.getByRole('button', { name: 'Execute' }).click(),
        ]);
        expect(
          (await profileResponse.request().allHeaders())['authorization'],
        ).toBe(`Bearer ${accessToken}`);
        expect(profileResponse.status()).toBe(200);
        const profileRendered = await renderedResponse(profileOp);
        expect(profileRendered.status).toBe('200');
        expect(JSON.parse(profileRendered.body)).toEqual({
          fullName: null,
          dateOfBirth: null,
          phone: null,
          address: null,
          nationalId: null,
        });
        // The curl example Swagger UI renders carries the pasted token.
        await expect(
          profileOp.locator('.curl-command').innerText(),
        ).resolves.toContain(`Bearer ${accessToken}`);

        mkdirSync(resolve(SCREENSHOT_PATH, '..'), { recursive: true });
        await profileOp.scrollIntoViewIfNeeded();
        await profileOp.screenshot({ path: SCREENSHOT_PATH });
        process.stdout.write(
          `\nSwagger UI screenshot (GET /v1/me/profile, 200): ${SCREENSHOT_PATH}\n`,
        );

        const cspViolations = await page.evaluate<string[]>(
          'window.__cspViolations || []',
        );
        if (otherConsoleErrors.length > 0)
          process.stdout.write(
            `browser console errors from elsewhere:\n  ${otherConsoleErrors.join('\n  ')}\n`,
          );
        expect([
          ...browserErrors,
          ...cspViolations.map((v) => `CSP violation: ${v}`),
        ]).toEqual([]);
      } catch (error) {
        // Say what the browser saw, and keep a picture of the page as it was.
        const failurePath = resolve(
          SCREENSHOT_PATH,
          '..',
          'swagger-ui-failure.png',
        );
        mkdirSync(resolve(failurePath, '..'), { recursive: true });
        await page
          ?.screenshot({ path: failurePath, fullPage: true })
          .catch(() => undefined);
        const seen = [...browserErrors, ...otherConsoleErrors];
        (error as Error).message +=
          `\n\nBrowser errors:${seen.length ? `\n  ${seen.join('\n  ')}` : ' none'}\nPage at failure: ${failurePath}`;
        throw error;
      }
    }, 120_000);
  },
);

/** Expands one operation block (`#operations-<tag>-<operationId>`) and returns it. */
async function expandOperation(
  page: Page,
  tag: string,
  operationId: string,
): Promise<Locator> {
  const op = page.locator(`#operations-${tag}-${operationId}`);
  await op.scrollIntoViewIfNeeded();
  await op.locator('.opblock-summary-control').click();
  await op.locator('.opblock-body').waitFor();
  return op;
}

/** The live response Swagger UI rendered under "Server response": its status cell and body text. */
async function renderedResponse(
  op: Locator,
): Promise<{ status: string; body: string }> {
  const row = op.locator('.live-responses-table tbody tr.response');
  await row.waitFor();
  const status = (
    await row.locator('td.response-col_status').innerText()
  ).trim();
  const body = await row
    .locator('.response-col_description .highlight-code pre')
    .first()
    .innerText();
  return { status, body };
}
