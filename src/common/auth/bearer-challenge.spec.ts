import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { bearerChallengeFor, markBearerProtected } from './bearer-challenge';

function requestWith(authorization?: string): IncomingMessage {
  const request = new IncomingMessage(new Socket());
  if (authorization !== undefined)
    request.headers.authorization = authorization;
  return request;
}

describe('bearerChallengeFor (RFC 6750 §3)', () => {
  const NO_ERROR = 'Bearer realm="vault-pii-api"';

  it('gives a request of a public route no challenge', () => {
    expect(bearerChallengeFor(requestWith(), 'invalid_token')).toBeUndefined();
  });

  it.each([[undefined], ['Basic dXNlcjpwYXNz'], ['Bearerish abc']])(
    'Authorization %p carries no bearer token: the challenge without an error',
    (authorization) => {
      const request = requestWith(authorization);
      markBearerProtected(request);
      expect(bearerChallengeFor(request, 'invalid_token')).toBe(NO_ERROR);
    },
  );

  it('a presented token that failed: error="invalid_token", for a locked session too', () => {
    const request = requestWith('bearer abc.def.ghi');
    markBearerProtected(request);
    expect(bearerChallengeFor(request, 'invalid_token')).toBe(
      'Bearer realm="vault-pii-api", error="invalid_token", error_description="The access token is invalid or has expired"',
    );
    expect(bearerChallengeFor(request, 'session_locked')).toMatch(
      /^Bearer realm="vault-pii-api", error="invalid_token", error_description="[^"]+"$/,
    );
  });

  it('an expired access key is a token that failed: error="invalid_token" with its own description', () => {
    const request = requestWith('Bearer vpk_expired');
    markBearerProtected(request);
    expect(bearerChallengeFor(request, 'access_key_expired')).toBe(
      'Bearer realm="vault-pii-api", error="invalid_token", error_description="The access key has expired"',
    );
  });

  it('an access key without the route\'s scope: error="insufficient_scope" naming the scope needed', () => {
    const request = requestWith('Bearer vpk_reader');
    markBearerProtected(request);
    expect(
      bearerChallengeFor(request, 'insufficient_scope', 'contacts:write'),
    ).toBe(
      'Bearer realm="vault-pii-api", error="insufficient_scope", scope="contacts:write"',
    );
  });

  it('a route no scope opens (password sessions only): error="insufficient_scope" without a scope', () => {
    const request = requestWith('Bearer vpk_reader');
    markBearerProtected(request);
    expect(bearerChallengeFor(request, 'insufficient_scope')).toBe(
      'Bearer realm="vault-pii-api", error="insufficient_scope"',
    );
  });

  it('insufficient_scope outside a bearer-protected route: no challenge', () => {
    expect(
      bearerChallengeFor(
        requestWith('Bearer vpk_reader'),
        'insufficient_scope',
        'profile:read',
      ),
    ).toBeUndefined();
  });

  it('a wrong password on a protected route is no token failure: no challenge', () => {
    const request = requestWith('Bearer abc.def.ghi');
    markBearerProtected(request);
    expect(bearerChallengeFor(request, 'invalid_credentials')).toBeUndefined();
  });
});
