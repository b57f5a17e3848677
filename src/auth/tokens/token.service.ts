import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AppConfig } from '../../config/app-config';
import { ServerKeys } from '../../config/server-keys';

export const JWT_ALGORITHM = 'HS256';
export const JWT_ISSUER = 'vault-pii-backend';
export const JWT_AUDIENCE = 'vault-pii-api';
/** RFC 9068 access-token type: a refresh token or any other JWT of ours is never taken for one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export const SESSION_ID_BYTES = 16;
export const CLIENT_SHARE_BYTES = 16;
const REFRESH_SECRET_BYTES = 32;
const REFRESH_TOKEN_VERSION = 1;
const REFRESH_TOKEN_BYTES =
  1 + SESSION_ID_BYTES + CLIENT_SHARE_BYTES + REFRESH_SECRET_BYTES;

export interface SessionSecrets {
  sid: Buffer;
  clientShare: Buffer;
}

export interface ParsedRefreshToken extends SessionSecrets {
  /** SHA-256 of the whole token: what the database stores. */
  hash: Buffer;
}

/**
 * Access tokens: short HS256 JWTs (`sub`, `sid`, `cs`, `iss`, `aud`, `exp`, header `typ: at+jwt`)
 * signed with a KeyObject (docs/security.md#access-tokens). Refresh tokens: opaque 87-character
 * strings carrying the session id, the client share and a 256-bit secret; stored only as a SHA-256.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly config: AppConfig,
    private readonly serverKeys: ServerKeys,
  ) {}

  newSessionSecrets(): SessionSecrets {
    return {
      sid: randomBytes(SESSION_ID_BYTES),
      clientShare: randomBytes(CLIENT_SHARE_BYTES),
    };
  }

  /** The id under which the vault and the database know a session: hex SHA-256 of the sid. */
  sessionKeyId(sid: Buffer): string {
    return sha256(sid).toString('hex');
  }

  issueAccessToken(userId: string, secrets: SessionSecrets): string {
    return jwt.sign(
      {
        sid: secrets.sid.toString('base64url'),
        cs: secrets.clientShare.toString('base64url'),
      },
      this.serverKeys.jwtSigningKey,
      {
        algorithm: JWT_ALGORITHM,
        subject: userId,
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        expiresIn: this.config.accessTokenTtlSeconds,
        header: { alg: JWT_ALGORITHM, typ: ACCESS_TOKEN_TYPE },
      },
    );
  }

  get accessTokenTtlSeconds(): number {
    return this.config.accessTokenTtlSeconds;
  }

  newRefreshToken(secrets: SessionSecrets): { token: string; hash: Buffer } {
    const bytes = Buffer.concat([
      Buffer.from([REFRESH_TOKEN_VERSION]),
      secrets.sid,
      secrets.clientShare,
      randomBytes(REFRESH_SECRET_BYTES),
    ]);
    return { token: bytes.toString('base64url'), hash: sha256(bytes) };
  }

  /** undefined for anything that is not one of our refresh tokens (e.g. a JWT). */
  parseRefreshToken(token: string): ParsedRefreshToken | undefined {
    if (!/^[A-Za-z0-9_-]{87}$/.test(token)) return undefined;
    const bytes = Buffer.from(token, 'base64url');
    if (
      bytes.length !== REFRESH_TOKEN_BYTES ||
      bytes[0] !== REFRESH_TOKEN_VERSION
    )
      return undefined;
    return {
      sid: bytes.subarray(1, 1 + SESSION_ID_BYTES),
      clientShare: bytes.subarray(
        1 + SESSION_ID_BYTES,
        1 + SESSION_ID_BYTES + CLIENT_SHARE_BYTES,
      ),
      hash: sha256(bytes),
    };
  }
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
