import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { App } from 'supertest/types';
import type { RegisteredDto, TokenPairDto } from '../../src/auth/dto/auth.dto';
import { bodyOf } from './http-body';

export interface RegisteredUser {
  email: string;
  password: string;
  userId: string;
  recoveryCode: string;
}

export interface LoggedInUser extends RegisteredUser {
  accessToken: string;
  refreshToken: string;
}

export const STRONG_PASSWORD = 'Vault-canary passphrase 4417';

/** Registers a fresh account through the API (email unique per call). */
export async function registerUser(
  server: App,
  overrides: Partial<{
    email: string;
    password: string;
    profile: unknown;
  }> = {},
): Promise<RegisteredUser> {
  const email = overrides.email ?? `user.${randomUUID()}@example.org`;
  const password = overrides.password ?? STRONG_PASSWORD;
  const response = await request(server)
    .post('/v1/auth/register')
    .send({
      email,
      password,
      ...(overrides.profile ? { profile: overrides.profile } : {}),
    });
  if (response.status !== 201)
    throw new Error(
      `register failed: ${response.status} ${JSON.stringify(response.body)}`,
    );
  const { userId, recoveryCode } = bodyOf<RegisteredDto>(response);
  return { email, password, userId, recoveryCode };
}

export async function login(
  server: App,
  user: RegisteredUser,
): Promise<LoggedInUser> {
  const response = await request(server)
    .post('/v1/auth/login')
    .send({ email: user.email, password: user.password });
  if (response.status !== 200)
    throw new Error(
      `login failed: ${response.status} ${JSON.stringify(response.body)}`,
    );
  const { accessToken, refreshToken } = bodyOf<TokenPairDto>(response);
  return { ...user, accessToken, refreshToken };
}

export async function registerAndLogin(
  server: App,
  overrides: Parameters<typeof registerUser>[1] = {},
): Promise<LoggedInUser> {
  return login(server, await registerUser(server, overrides));
}

export function bearer(token: string): [string, string] {
  return ['Authorization', `Bearer ${token}`];
}
