import { ArgumentsHost, Logger } from '@nestjs/common';
import {
  DataIntegrityError,
  KeyUnavailableError,
  RotationInProgressError,
  SessionLockedError,
  VaultUnavailableError,
} from '@vault-pii/nest-encryption';
import type { Request, Response } from 'express';
import { IntegrityFailureRecorder } from './integrity-failure-recorder';
import { ProblemDetailsFilter } from './problem-details.filter';

/** What the filter sent for `exception`: status, headers and the parsed problem+json body. */
function answerTo(
  exception: unknown,
  integrityFailures?: IntegrityFailureRecorder,
) {
  const sent = {
    status: 0,
    headers: {} as Record<string, string>,
    body: {} as Record<string, unknown>,
  };
  const response = {
    headersSent: false,
    status(code: number) {
      sent.status = code;
      return response;
    },
    setHeader(name: string, value: string) {
      sent.headers[name.toLowerCase()] = value;
      return response;
    },
    send(text: string) {
      sent.body = JSON.parse(text) as Record<string, unknown>;
      return response;
    },
  };
  const request = { id: 'request-1', originalUrl: '/v1/me?x=1' };
  const host = {
    switchToHttp: () => ({
      getRequest: () => request as unknown as Request,
      getResponse: () => response as unknown as Response,
    }),
  } as ArgumentsHost;
  new ProblemDetailsFilter(integrityFailures).catch(exception, host);
  return sent;
}

describe('ProblemDetailsFilter: the encryption library’s errors', () => {
  let logged: jest.SpyInstance;
  beforeEach(() => {
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation();
  });
  afterEach(() => logged.mockRestore());

  it.each([
    [
      new KeyUnavailableError(),
      500,
      'key_unavailable',
      'The keys needed for this data are not available in this context.',
    ],
    [
      new SessionLockedError(),
      401,
      'session_locked',
      'This session is locked or has ended; log in again.',
    ],
    [
      new VaultUnavailableError(),
      503,
      'vault_unavailable',
      'The session key store is unavailable; try again shortly.',
    ],
    [
      new DataIntegrityError(
        'contacts',
        'full_name',
        'AuthenticationFailedError',
      ),
      500,
      'data_integrity_error',
      'Stored data failed its integrity check; the incident has been logged.',
    ],
    [
      new RotationInProgressError(),
      409,
      'rotation_in_progress',
      'A key rotation of this account is still running; try again once it has finished.',
    ],
    [
      new RotationInProgressError('This document is being re-encrypted.'),
      409,
      'rotation_in_progress',
      'This document is being re-encrypted.',
    ],
  ])('%p answers %i %s with its own detail', (error, status, code, detail) => {
    const sent = answerTo(error);
    expect(sent.status).toBe(status);
    expect(sent.headers['content-type']).toBe(
      'application/problem+json; charset=utf-8',
    );
    expect(sent.body).toMatchObject({
      status,
      code,
      detail,
      type: `/problems/${code.replace(/_/g, '-')}`,
      instance: '/v1/me',
      requestId: 'request-1',
    });
  });

  it('logs an integrity failure with where it happened (never a value) and records it', () => {
    const recorder = { recordIntegrityFailure: jest.fn() };
    answerTo(
      new DataIntegrityError(
        'contacts',
        'full_name',
        'AuthenticationFailedError',
      ),
      recorder,
    );
    expect(logged).toHaveBeenCalledWith(
      {
        code: 'data_integrity_error',
        table: 'contacts',
        column: 'full_name',
        reason: 'AuthenticationFailedError',
      },
      'Stored data failed its integrity check; the incident has been logged.',
    );
    expect(recorder.recordIntegrityFailure).toHaveBeenCalledTimes(1);
  });

  it('adds no log line for a vault outage (logged where it is found)', () => {
    answerTo(new VaultUnavailableError());
    expect(logged).not.toHaveBeenCalled();
  });
});
