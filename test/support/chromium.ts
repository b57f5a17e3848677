import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core (no browser download), for the suites that check
 * the API from a real browser (Swagger UI, CORS).
 *
 * Without Chromium such a suite is skipped with a printed reason (a fresh machine with only Node
 * and npm must pass `npm test`), unless BROWSER_TESTS=required (CI), where a missing browser fails.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const BROWSER_REQUIRED = process.env.BROWSER_TESTS === 'required';
export const chromiumAvailable = existsSync(CHROMIUM_PATH);

// The flags that are known to work on these machines (closed network, root, no GPU). Playwright
// gives every launch() a fresh temporary --user-data-dir of its own and removes it on close.
const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * `describe`, or `describe.skip` when there is no Chromium and it is not required; prints why a
 * suite named `suite` is skipped or will fail.
 */
export function describeInBrowser(suite: string): jest.Describe {
  if (!chromiumAvailable) {
    const reason = `${suite}: ${CHROMIUM_PATH} not found`;
    process.stdout.write(
      BROWSER_REQUIRED
        ? `\n${reason}, and BROWSER_TESTS=required: failing.\n`
        : `\n${reason}: SKIPPED (install Debian's chromium, or set CHROMIUM_PATH, to run it).\n`,
    );
  }
  return chromiumAvailable || BROWSER_REQUIRED ? describe : describe.skip;
}

/**
 * Launches headless Chromium with the known-good flags. `hostsToLoopback` are host names the
 * browser resolves to 127.0.0.1 (`--host-resolver-rules`): a page on such a name is a plain-HTTP
 * site of its own origin, not a secure localhost.
 */
export async function launchChromium(
  options: { hostsToLoopback?: readonly string[]; timeoutMs?: number } = {},
): Promise<Browser> {
  if (!chromiumAvailable)
    throw new Error(`${CHROMIUM_PATH} not found and BROWSER_TESTS=required`);
  const hosts = options.hostsToLoopback ?? [];
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      ...CHROMIUM_ARGS,
      ...(hosts.length > 0
        ? [
            `--host-resolver-rules=${hosts.map((host) => `MAP ${host} 127.0.0.1`).join(', ')}`,
          ]
        : []),
    ],
    timeout: options.timeoutMs ?? 30_000,
  });
}
