import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import passport from 'passport';
import type { JwtPayload } from 'jsonwebtoken';
import { Strategy, StrategyOptions } from 'passport-jwt';
import { ServerKeys } from '../../config/server-keys';
import { KeyContext, SessionKeyVault } from '@vault-pii/nest-encryption';
import { InvalidTokenError } from '../auth.errors';
import {
  ACCESS_TOKEN_TYPE,
  CLIENT_SHARE_BYTES,
  JWT_ALGORITHM,
  JWT_AUDIENCE,
  JWT_ISSUER,
  SESSION_ID_BYTES,
  TokenService,
} from '../tokens/token.service';
import type { AuthenticatedSession } from '../../common/auth/authenticated-session';

export interface CompleteToken {
  header: Record<string, unknown>;
  payload: JwtPayload;
}

/**
 * RFC 6750 §2.1: exactly `Bearer <b64token>`. passport-jwt's own extractor takes the first word
 * after the scheme and ignores the rest, so `Bearer <token> <other>` authenticated as `<token>`;
 * a header with two tokens (or a comma list) is ambiguous, so it carries no token at all.
 */
const BEARER_AUTHORIZATION = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

export function bearerTokenFrom(request: {
  headers: Record<string, string | string[] | undefined>;
}): string | null {
  const header = request.headers.authorization;
  const match =
    typeof header === 'string' ? BEARER_AUTHORIZATION.exec(header) : null;
  return match ? match[1] : null;
}

/** Header members that would let a token name its own key: never honoured, always refused. */
const KEY_BEARING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'kid'];

/**
 * passport-jwt's options for our access tokens (docs/security.md#access-tokens): one pinned
 * algorithm (HS256 with a KeyObject: about 7 µs per verify, against 390 µs for a Buffer secret),
 * `iss` and `aud` checked, the bearer header only (never a query string), `exp` enforced.
 */
export function accessTokenVerification(
  serverKeys: ServerKeys,
): Exclude<StrategyOptions, { passReqToCallback: true }> {
  return {
    jwtFromRequest: bearerTokenFrom,
    secretOrKey: serverKeys.jwtSigningKey as unknown as string,
    algorithms: [JWT_ALGORITHM],
    issuer: JWT_ISSUER,
    audience: JWT_AUDIENCE,
    ignoreExpiration: false,
    jsonWebTokenOptions: { complete: true, clockTolerance: 0 },
  };
}

/**
 * The session a verified access token names: `typ` must be ours, no key-bearing header, and
 * `sub`, `exp`, `sid` and `cs` well formed. @throws InvalidTokenError
 */
export function sessionOfAccessToken(
  token: CompleteToken,
  tokens: TokenService,
): AuthenticatedSession {
  const { header, payload } = token;
  if (
    header.typ !== ACCESS_TOKEN_TYPE ||
    KEY_BEARING_HEADERS.some((name) => name in header)
  ) {
    throw new InvalidTokenError();
  }
  const sid = decodeClaim(payload.sid, SESSION_ID_BYTES);
  const clientShare = decodeClaim(payload.cs, CLIENT_SHARE_BYTES);
  // exp is required (RFC 9068 §2.2): jsonwebtoken only checks it when present.
  if (
    typeof payload.sub !== 'string' ||
    typeof payload.exp !== 'number' ||
    !sid ||
    !clientShare
  ) {
    throw new InvalidTokenError();
  }
  return {
    userId: payload.sub,
    sessionKeyId: tokens.sessionKeyId(sid),
    sid,
    clientShare,
  };
}

/**
 * docs/sessions.md and docs/security.md: a verified access token (see `accessTokenVerification`),
 * then the session's vault entry unlocked with the client share from the token and its keyring
 * attached to the request's key context. Opening the entry is part of authentication, not only of
 * decryption: it proves the token's `sub`, `sid` and `cs` belong together (an entry opens only with
 * its own user, session and client share), so even a token signed with a stolen JWT key gets no
 * further than `session_locked` without a live session's client share. A gone session is 401
 * `session_locked`, a store outage 503.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    serverKeys: ServerKeys,
    private readonly tokens: TokenService,
    private readonly vault: SessionKeyVault,
  ) {
    super(accessTokenVerification(serverKeys));
  }

  /**
   * Where the `PassportStrategy` mixin registers this strategy: a throw-away authenticator, not
   * passport's process-wide one, which would keep the last app's strategy (and its vault) alive
   * for every app in the process. `JwtAuthGuard` authenticates with this instance directly.
   */
  getPassportInstance(): passport.Authenticator {
    return new passport.Authenticator();
  }

  async validate(token: CompleteToken): Promise<AuthenticatedSession> {
    const session = sessionOfAccessToken(token, this.tokens);
    const keyring = await this.vault.unlock({
      sessionId: session.sessionKeyId,
      userId: session.userId,
      clientShare: session.clientShare,
    });
    KeyContext.attach(keyring);
    return session;
  }
}

function decodeClaim(value: unknown, bytes: number): Buffer | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value))
    return undefined;
  const decoded = Buffer.from(value, 'base64url');
  return decoded.length === bytes ? decoded : undefined;
}
