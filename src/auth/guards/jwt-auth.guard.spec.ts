import {
  SessionLockedError,
  VaultUnavailableError,
} from '@vault-pii/nest-encryption';
import { NotFoundError } from '../../common/problem/not-found.error';
import { InvalidTokenError } from '../auth.errors';
import { authenticatedOrThrow } from './jwt-auth.guard';

function thrownBy(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

describe('authenticatedOrThrow: what the JWT strategy’s failure becomes', () => {
  it.each([
    ['a locked session', new SessionLockedError()],
    ['a vault outage', new VaultUnavailableError()],
    ['a domain error', new NotFoundError('session')],
  ])('lets %s through as itself', (_name, error) => {
    expect(thrownBy(() => authenticatedOrThrow(error, undefined))).toBe(error);
  });

  it('turns any other failure, or no user, into one invalid_token', () => {
    expect(() =>
      authenticatedOrThrow(new Error('jwt expired'), undefined),
    ).toThrow(InvalidTokenError);
    expect(() => authenticatedOrThrow(null, false)).toThrow(InvalidTokenError);
  });

  it('returns the user when there is one and no error', () => {
    const user = { userId: 'u' };
    expect(authenticatedOrThrow(null, user)).toBe(user);
  });
});
