import { QueryFailedError } from 'typeorm';
import { isDatabaseUnreachable } from './database-unreachable';

const withCode = (code: string, message = 'x') =>
  Object.assign(new Error(message), { code });
const queryFailed = (driverError: Error) =>
  new QueryFailedError('SELECT 1', [], driverError);

describe('isDatabaseUnreachable', () => {
  it.each([
    ['a refused connection', withCode('ECONNREFUSED')],
    ['a reset connection', withCode('ECONNRESET')],
    ['an unknown host', withCode('ENOTFOUND')],
    [
      'a server shutting down (57P01), as TypeORM wraps it',
      queryFailed(
        withCode(
          '57P01',
          'terminating connection due to administrator command',
        ),
      ),
    ],
    ['a server starting up (57P03)', queryFailed(withCode('57P03'))],
    ['a connection failure SQLSTATE (08006)', withCode('08006')],
    ['too many connections (53300)', withCode('53300')],
    [
      'node-postgres losing its connection',
      new Error('Connection terminated unexpectedly'),
    ],
    [
      'the pool timing out',
      new Error('timeout exceeded when trying to connect'),
    ],
    [
      'a cause chain',
      new Error('wrapped', { cause: withCode('ECONNREFUSED') }),
    ],
  ])('is true for %s', (_name, error) => {
    expect(isDatabaseUnreachable(error)).toBe(true);
  });

  it.each([
    ['a NOT NULL violation (23502)', queryFailed(withCode('23502'))],
    ['a unique violation (23505)', queryFailed(withCode('23505'))],
    ['a syntax error (42601)', queryFailed(withCode('42601'))],
    ['a timestamp out of range (22008)', queryFailed(withCode('22008'))],
    ['a plain error', new Error('boom')],
    ['a string', 'ECONNREFUSED'],
    ['null', null],
    ['undefined', undefined],
    ['an object with a numeric code', { code: 8006 }],
  ])('is false for %s', (_name, error) => {
    expect(isDatabaseUnreachable(error)).toBe(false);
  });

  it('does not loop on a cyclic cause chain', () => {
    const error = new Error('a') as Error & { cause?: unknown };
    error.cause = error;
    expect(isDatabaseUnreachable(error)).toBe(false);
  });
});
