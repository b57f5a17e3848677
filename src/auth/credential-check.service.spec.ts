import { randomBytes } from 'node:crypto';
import type { AuditLogService } from '../audit/audit-log.service';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../common/problem/too-many-requests.error';
import type { AccountKeysService } from './account-keys.service';
import {
  InvalidCredentialsError,
  LoginLimiterUnavailableError,
} from './auth.errors';
import {
  CredentialCheckService,
  PasswordAccount,
} from './credential-check.service';
import {
  AttemptCounter,
  MemoryAttemptCounter,
} from './rate-limit/attempt-counters';
import { LoginAttemptsService } from './rate-limit/login-attempts.service';
import { RateLimitKeys } from './rate-limit/rate-limit-keys';

const EMAIL = 'ada@example.org';
const RIGHT = 'the right password';
const KEK = Buffer.alloc(32, 7);
const AUDIT = { ip: '198.51.100.9', id: 'request-1' };

const account = {
  id: 'user-1',
  email: EMAIL,
  authVerifier: Buffer.alloc(32),
  kdfSalt: Buffer.alloc(16),
  kdfParams: { memoryKiB: 19456, iterations: 2, parallelism: 1 },
} as PasswordAccount & { email: string };

describe('CredentialCheckService', () => {
  let keys: {
    verifyPassword: jest.Mock;
    spendDummyVerification: jest.Mock;
  };
  let audit: { record: jest.Mock };
  let service: CredentialCheckService;

  const build = (counter: AttemptCounter) =>
    new CredentialCheckService(
      keys as unknown as AccountKeysService,
      new LoginAttemptsService(
        { maxFailures: 2, windowMs: 60_000 },
        counter,
        new RateLimitKeys(randomBytes(32)),
      ),
      audit as unknown as AuditLogService,
    );

  beforeEach(() => {
    keys = {
      verifyPassword: jest.fn((_user, password: string) =>
        Promise.resolve(password === RIGHT ? Buffer.from(KEK) : undefined),
      ),
      spendDummyVerification: jest.fn(() => Promise.resolve()),
    };
    audit = { record: jest.fn(() => Promise.resolve()) };
    service = build(new MemoryAttemptCounter());
  });

  /** The last audit event: a failure of `event` on `userId`, from this request. */
  const expectAuditedFailure = (event: string, userId: string | null) =>
    expect(audit.record).toHaveBeenLastCalledWith(
      event,
      'failure',
      userId,
      AUDIT,
    );
  const confirm = (password: string) =>
    service.confirmPassword(account, password, 'account.delete', AUDIT);

  it('returns the KEK of a right password, and a right password does not count', async () => {
    for (let i = 0; i < 5; i++) expect(await confirm(RIGHT)).toEqual(KEK);
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('answers a wrong password with 401, audited under the flow’s event, and counts it', async () => {
    await expect(confirm('wrong')).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    );
    expectAuditedFailure('account.delete', 'user-1');
    await expect(confirm('wrong')).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    );
    await expect(confirm(RIGHT)).rejects.toBeInstanceOf(TooManyRequestsError);
  });

  it('refuses a locked account with 429 before any KDF, even with the right password, and audits it', async () => {
    await confirm('wrong').catch(() => undefined);
    await confirm('wrong').catch(() => undefined);
    keys.verifyPassword.mockClear();
    audit.record.mockClear();
    await expect(confirm(RIGHT)).rejects.toBeInstanceOf(TooManyRequestsError);
    expect(keys.verifyPassword).not.toHaveBeenCalled();
    expectAuditedFailure('account.delete', 'user-1');
  });

  it('shares one counter across flows: failures in one lock the login of the same account', async () => {
    await confirm('wrong').catch(() => undefined);
    await service
      .confirmPassword(account, 'wrong', 'keys.rotate', AUDIT)
      .catch(() => undefined);
    const findAccount = jest.fn(() => Promise.resolve(account));
    await expect(
      service.checkPassword(
        { email: EMAIL.toUpperCase(), event: 'auth.login', audit: AUDIT },
        RIGHT,
        findAccount,
      ),
    ).rejects.toBeInstanceOf(TooManyRequestsError);
    expect(findAccount).not.toHaveBeenCalled();
    expectAuditedFailure('auth.login_locked', null);
  });

  it('spends a dummy argon2id call on an unknown account and counts it like a wrong password', async () => {
    const login = () =>
      service.checkPassword(
        { email: 'nobody@example.org', event: 'auth.login', audit: AUDIT },
        RIGHT,
        () => Promise.resolve(null),
      );
    await expect(login()).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect(keys.spendDummyVerification).toHaveBeenCalledWith(RIGHT);
    expectAuditedFailure('auth.login', null);
    await login().catch(() => undefined);
    await expect(login()).rejects.toBeInstanceOf(TooManyRequestsError);
  });

  it('counts any other check (a recovery code) the same way', async () => {
    const recover = (right: boolean) =>
      service.check(
        { email: EMAIL, event: 'auth.recovery', audit: AUDIT },
        () =>
          Promise.resolve({
            userId: 'user-1',
            verified: right ? 'keys' : undefined,
          }),
      );
    expect(await recover(true)).toBe('keys');
    await expect(recover(false)).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    );
    await recover(false).catch(() => undefined);
    await expect(recover(true)).rejects.toBeInstanceOf(TooManyRequestsError);
    expectAuditedFailure('auth.recovery', null);
  });

  it('does not count a check the argon2id queue turned away (503): no password was tested', async () => {
    keys.verifyPassword.mockImplementation(() =>
      Promise.reject(new ServiceBusyError(3, 'busy')),
    );
    for (let i = 0; i < 5; i++)
      await expect(confirm('wrong')).rejects.toBeInstanceOf(ServiceBusyError);
    expect(audit.record).not.toHaveBeenCalled();
    keys.verifyPassword.mockImplementation((_user, password: string) =>
      Promise.resolve(password === RIGHT ? Buffer.from(KEK) : undefined),
    );
    // Two failures still allowed, as if the refused checks had never happened.
    await expect(confirm('wrong')).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    );
    await expect(confirm('wrong')).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    );
    await expect(confirm(RIGHT)).rejects.toBeInstanceOf(TooManyRequestsError);
  });

  it('does count a check that failed otherwise (a database error after the lookup)', async () => {
    keys.verifyPassword.mockImplementation(() =>
      Promise.reject(new Error('connection lost')),
    );
    await expect(confirm('wrong')).rejects.toThrow('connection lost');
    await expect(confirm('wrong')).rejects.toThrow('connection lost');
    await expect(confirm(RIGHT)).rejects.toBeInstanceOf(TooManyRequestsError);
  });

  it('fails closed with 503 when the counter does not answer, checking nothing', async () => {
    service = build({
      increment: () => Promise.reject(new Error('ECONNREFUSED')),
      decrement: () => Promise.reject(new Error('ECONNREFUSED')),
    });
    await expect(confirm(RIGHT)).rejects.toBeInstanceOf(
      LoginLimiterUnavailableError,
    );
    expect(keys.verifyPassword).not.toHaveBeenCalled();
  });
});
