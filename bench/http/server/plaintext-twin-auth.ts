import { Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-jwt';
import { AuthenticatedSession } from '../../../src/common/auth/authenticated-session';
import { authenticatedOrThrow } from '../../../src/auth/guards/jwt-auth.guard';
import {
  accessTokenVerification,
  CompleteToken,
  sessionOfAccessToken,
} from '../../../src/auth/guards/jwt.strategy';
import { TokenService } from '../../../src/auth/tokens/token.service';
import { ServerKeys } from '../../../src/config/server-keys';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import {
  SessionLockedError,
  VaultUnavailableError,
  VAULT_STORE,
  VaultStore,
} from '@vault-pii/nest-encryption';

const STRATEGY = 'jwt-plaintext-twin';

/**
 * BENCH ONLY: authentication as a plaintext twin of this app would do it — the production
 * access-token verification (`accessTokenVerification`, `sessionOfAccessToken`) and a session
 * lookup in the same store (which slides its idle expiry), but no vault entry to open and no
 * keyring: a plaintext app has no keys. Never use outside the bench: without the entry's
 * opening, nothing proves the token's `sub`, `sid` and `cs` belong together.
 */
@Injectable()
export class PlaintextTwinJwtStrategy
  extends PassportStrategy(Strategy, STRATEGY)
  implements OnModuleInit
{
  private store: VaultStore;

  constructor(
    serverKeys: ServerKeys,
    private readonly tokens: TokenService,
    private readonly moduleRef: ModuleRef,
  ) {
    super(accessTokenVerification(serverKeys));
  }

  onModuleInit(): void {
    // The key vault module keeps its store to itself; the twin reads it directly.
    this.store = this.moduleRef.get<VaultStore>(VAULT_STORE, { strict: false });
  }

  async validate(token: CompleteToken): Promise<AuthenticatedSession> {
    const session = sessionOfAccessToken(token, this.tokens);
    let entry: Buffer | undefined;
    try {
      entry = await this.store.get(session.sessionKeyId);
    } catch {
      throw new VaultUnavailableError();
    }
    if (!entry) throw new SessionLockedError();
    zeroBuffer(entry);
    return session;
  }
}

/** BENCH ONLY: `JwtAuthGuard` over the twin's strategy. */
@Injectable()
export class PlaintextTwinAuthGuard extends AuthGuard(STRATEGY) {
  override handleRequest<T>(error: unknown, user: T): T {
    return authenticatedOrThrow(error, user);
  }
}
