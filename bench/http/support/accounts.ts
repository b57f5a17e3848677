/** Test accounts for the HTTP sections, made through the public API like any client would. */
import { randomUUID } from 'node:crypto';

export interface BenchAccount {
  userId: string;
  email: string;
  password: string;
}

export interface BenchProfile {
  fullName: string;
  dateOfBirth: string;
  phone: string;
  address: string;
  nationalId: string;
}

const FIRST_NAMES = [
  'Ada',
  'Grace',
  'Alan',
  'Katherine',
  'Edsger',
  'Barbara',
  'Donald',
  'Frances',
];
const LAST_NAMES = [
  'Lovelace-Byron',
  'Hopper',
  'Turing',
  'Johnson',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
];
const STREETS = [
  'St James’s Square',
  'Rue de Rivoli',
  'Königsallee',
  'Calle de Alcalá',
  'Via del Corso',
  'Prinsengracht',
];

/** A realistic profile (names with diacritics and hyphens, a full postal address), varied by `seed`. */
export function realisticProfile(seed: number): BenchProfile {
  const pick = <T>(list: T[]) => list[seed % list.length];
  return {
    fullName: `${pick(FIRST_NAMES)} Marie ${pick(LAST_NAMES)}`,
    dateOfBirth: `19${50 + (seed % 50)}-${String(1 + (seed % 12)).padStart(2, '0')}-${String(1 + (seed % 28)).padStart(2, '0')}`,
    phone: `+44 20 7946 ${String(1000 + ((seed * 37) % 9000))}`,
    address: `${10 + (seed % 90)} ${pick(STREETS)}, Flat ${1 + (seed % 20)}, London SW1Y 4JH, United Kingdom`,
    nationalId: `QQ${String(100000 + ((seed * 7919) % 900000))}C`,
  };
}

export async function register(
  baseUrl: string,
  label: string,
): Promise<BenchAccount> {
  const email = `bench.${label}.${randomUUID().slice(0, 8)}@example.org`;
  const password = `correct horse battery staple ${label} ${randomUUID()}`;
  const body = (await call(
    baseUrl,
    'POST',
    '/v1/auth/register',
    { email, password },
    201,
  )) as { userId: string };
  return { userId: body.userId, email, password };
}

export async function login(
  baseUrl: string,
  account: BenchAccount,
): Promise<string> {
  const body = (await call(
    baseUrl,
    'POST',
    '/v1/auth/login',
    { email: account.email, password: account.password },
    200,
  )) as { accessToken: string };
  return body.accessToken;
}

export async function putProfile(
  baseUrl: string,
  accessToken: string,
  profile: BenchProfile,
): Promise<void> {
  await call(baseUrl, 'PUT', '/v1/me/profile', profile, 200, accessToken);
}

/**
 * Creates an access key of `account` through the public API (`POST /v1/me/access-keys`, from a
 * password session, the password confirmed) and returns its secret (`vpk_…`), valid for a day.
 */
export async function createAccessKey(
  baseUrl: string,
  accessToken: string,
  account: BenchAccount,
  scopes: string[],
): Promise<string> {
  const body = (await call(
    baseUrl,
    'POST',
    '/v1/me/access-keys',
    {
      name: 'bench',
      scopes,
      expiresAt: new Date(Date.now() + 24 * 3600 * 1000).toISOString(),
      password: account.password,
    },
    201,
    accessToken,
  )) as { secret: string };
  return body.secret;
}

/** Registers `count` accounts, `parallel` at a time (each costs one argon2id call). */
export async function registerMany(
  baseUrl: string,
  count: number,
  label: string,
  parallel = 2,
): Promise<BenchAccount[]> {
  const accounts: BenchAccount[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from(
      { length: Math.min(parallel, count - i) },
      (_, j) => register(baseUrl, `${label}.${i + j}`),
    );
    accounts.push(...(await Promise.all(batch)));
  }
  return accounts;
}

async function call(
  baseUrl: string,
  method: string,
  path: string,
  body: unknown,
  expected: number,
  accessToken?: string,
): Promise<unknown> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== expected)
    throw new Error(
      `${method} ${path}: ${response.status} ${text.slice(0, 300)}`,
    );
  return text ? JSON.parse(text) : undefined;
}
