import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { timingSafeEqual } from 'node:crypto';
import { IsNull, Not, Repository } from 'typeorm';
import { AuditContext, AuditLogService } from '../../audit/audit-log.service';
import { readPage } from '../../common/pagination/keyset-page';
import { PageQueryDto } from '../../common/pagination/page-query.dto';
import { AppConfig } from '../../config/app-config';
import { insertStatement } from '../../database/plain-sql';
import {
  SessionLockedError,
  Keyring,
  SessionKeyVault,
  advisoryLockKey,
} from '@vault-pii/nest-encryption';
import { InvalidTokenError } from '../auth.errors';
import { SessionPageDto } from '../dto/auth.dto';
import { sha256, TokenService } from '../tokens/token.service';
import { Session } from './session.entity';

/**
 * How many spent refresh tokens a session remembers (docs/sessions.md#refresh-tokens). A session
 * refreshes about once per access token, so 12 hours of 10-minute tokens spend 72; a token older
 * than the last 100 is refused like one never issued, without revoking the session.
 */
export const SPENT_REFRESH_TOKENS_KEPT = 100;

/**
 * `created_at` as the page cursor carries it: `created_at` keeps microseconds, a JavaScript date
 * (and so a cursor) only milliseconds, truncated. Pages order and compare on this, so rows of one
 * millisecond are neither skipped nor repeated. A user has few live sessions: no index needed.
 */
const CREATED_MS = "date_trunc('milliseconds', session.created_at)";

/** Namespace of the per-user advisory lock that serialises opening sessions (`advisoryLockKey`). */
const SESSION_CAP_LOCK = 'session-cap';

/**
 * Revokes a user's live sessions beyond the `$4` they may keep beside the one being opened
 * (docs/sessions.md#sessions-per-user): those that have surely idled out first (last login or
 * refresh before `$3`), then the oldest by (created_at, id). Returns their sid hashes, whose
 * vault entries are deleted next.
 */
const END_SESSIONS_BEYOND_CAP = `
  WITH ended AS (
    UPDATE sessions SET revoked_at = $2
     WHERE id IN (
       SELECT id FROM sessions
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
        ORDER BY last_used_at > $3 DESC, created_at DESC, id DESC
       OFFSET $4)
    RETURNING sid_hash)
  SELECT sid_hash FROM ended`;

/** What login and refresh answer (docs/http-api.md#auth). */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/**
 * Sessions: the database row (for listing, refresh and revocation) and the vault entry (the
 * keys). A session is live while both exist. Revoking marks the row first (no refresh from then
 * on, whatever the vault store does), then deletes the vault entry (access tokens stop at once):
 * see "Revocation order" below.
 */
@Injectable()
export class SessionService {
  private readonly insertSession: string;

  constructor(
    @InjectRepository(Session) private readonly sessions: Repository<Session>,
    private readonly vault: SessionKeyVault,
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
    private readonly audit: AuditLogService,
  ) {
    this.insertSession = insertStatement(sessions.metadata, [
      'userId',
      'sidHash',
      'refreshTokenHash',
      'lastUsedAt',
      'expiresAt',
    ]);
  }

  /**
   * Puts `keyring` in the vault under a new session and returns its first tokens. A user at
   * `SESSIONS_PER_USER_LIMIT` loses their oldest session (idled-out ones first) to this one: it
   * is revoked like a logout and audited as `auth.session_revoke` with this request's context.
   */
  async open(
    userId: string,
    keyring: Keyring,
    audit: AuditContext,
  ): Promise<TokenPair> {
    const secrets = this.tokens.newSessionSecrets();
    const sessionKeyId = this.tokens.sessionKeyId(secrets.sid);
    await this.vault.open(
      { sessionId: sessionKeyId, userId, clientShare: secrets.clientShare },
      keyring,
    );
    const refresh = this.tokens.newRefreshToken(secrets);
    const now = new Date();
    const ended = await this.sessions.manager.transaction(async (manager) => {
      // Serialises the logins of one user, on every instance: two logins that counted the same
      // rows would each keep limit − 1 of them and leave limit + 1 sessions live. A transaction
      // lock, released at commit; other users' logins do not wait. An advisory lock rather than
      // the user's row: `users` is UsersModule's table.
      await manager.query('SELECT pg_advisory_xact_lock($1::bigint)', [
        advisoryLockKey(SESSION_CAP_LOCK, userId),
      ]);
      const revoked = await manager.query<{ sid_hash: Buffer }[]>(
        END_SESSIONS_BEYOND_CAP,
        [
          userId,
          now,
          this.idleEndedBefore(now),
          this.config.limits.sessionsPerUser - 1,
        ],
      );
      // Plain SQL (database/plain-sql.ts): one of a login's costs beside argon2id
      // (docs/benchmarks.md#targets).
      await manager.query(this.insertSession, [
        userId,
        Buffer.from(sessionKeyId, 'hex'),
        refresh.hash,
        now,
        new Date(now.getTime() + this.config.sessionMaxTtlSeconds * 1000),
      ]);
      return revoked;
    });
    // Revoked in PostgreSQL above; audited before the vault entries go, so that a vault outage
    // (503) does not lose the events. (Recording never throws.)
    await Promise.all(
      ended.map(() =>
        this.audit.record('auth.session_revoke', 'success', userId, audit),
      ),
    );
    for (const { sid_hash } of ended)
      await this.vault.revoke(sid_hash.toString('hex'));
    return this.pair(
      this.tokens.issueAccessToken(userId, secrets),
      refresh.token,
    );
  }

  /**
   * Sessions last used (login or refresh) before this time have surely idled out: an access
   * token issued then expired `ACCESS_TOKEN_TTL` later, and its last request slid the vault entry
   * `SESSION_IDLE_TTL` beyond that at most. Their rows may still say otherwise (no request
   * writes the row).
   */
  idleEndedBefore(now: Date): Date {
    return new Date(
      now.getTime() -
        (this.config.sessionIdleTtlSeconds +
          this.config.accessTokenTtlSeconds) *
          1000,
    );
  }

  /**
   * Rotates a refresh token (docs/sessions.md#refresh-tokens). A spent token of a live session
   * presented again is a replay (a thief's or the victim's copy): the session is revoked, so all
   * its tokens stop working, and `auth.refresh_reuse` is audited. Any other token is refused and
   * harms nothing: the sid and client share it carries are in every access token, so a made-up
   * secret beside them proves nothing.
   */
  async refresh(refreshToken: string, audit: AuditContext): Promise<TokenPair> {
    const parsed = this.tokens.parseRefreshToken(refreshToken);
    if (!parsed) throw new InvalidTokenError();
    const session = await this.sessions.findOneBy({
      sidHash: sha256(parsed.sid),
    });
    if (
      !session ||
      session.revokedAt ||
      session.expiresAt.getTime() <= Date.now()
    )
      throw new InvalidTokenError();
    if (!timingSafeEqual(session.refreshTokenHash, parsed.hash)) {
      if (isOneOf(parsed.hash, session.spentRefreshTokenHashes))
        return this.revokeReplayed(session, audit);
      throw new InvalidTokenError();
    }
    // The vault entry must still be there (idle timeout, logout elsewhere); unlocking also slides
    // it. Quiet: a refresh uses no key, so the keyring-unlocked listeners are not told.
    const keyring = await this.vault
      .unlock(
        {
          sessionId: session.sidHash.toString('hex'),
          userId: session.userId,
          clientShare: parsed.clientShare,
        },
        { quiet: true },
      )
      .catch((error: unknown) => {
        if (error instanceof SessionLockedError)
          throw new InvalidTokenError('The session has ended; log in again.');
        throw error;
      });
    keyring.zero();

    const next = this.tokens.newRefreshToken(parsed);
    // Only a rotation changes the spent list, so if the old hash still matches, so does the list read above.
    const rotated = await this.sessions.update(
      { id: session.id, refreshTokenHash: parsed.hash },
      {
        refreshTokenHash: next.hash,
        spentRefreshTokenHashes: [
          parsed.hash,
          ...session.spentRefreshTokenHashes,
        ].slice(0, SPENT_REFRESH_TOKENS_KEPT),
        lastUsedAt: new Date(),
      },
    );
    // Two refreshes raced with one token: only one rotation wins, the other is a replay.
    if (!rotated.affected) return this.revokeReplayed(session, audit);
    return this.pair(
      this.tokens.issueAccessToken(session.userId, parsed),
      next.token,
    );
  }

  /**
   * Re-seals the current session's entry (e.g. after a key rotation added a version), unless the
   * session has ended meanwhile.
   */
  async replaceKeys(
    sessionKeyId: string,
    userId: string,
    clientShare: Buffer,
    keyring: Keyring,
  ): Promise<void> {
    await this.vault.replaceLive(
      { sessionId: sessionKeyId, userId, clientShare },
      keyring,
    );
  }

  /*
   * Revocation order, here and below: the durable record first (no refresh from then on, whatever
   * Redis does), then the vault entries (access tokens stop at once). If the vault cannot be
   * reached the call fails (503), but what is left is bounded: an access token's lifetime, or the
   * vault entry's idle timeout, whichever ends first.
   */
  async revokeByKeyId(sessionKeyId: string): Promise<void> {
    await this.sessions.update(
      { sidHash: Buffer.from(sessionKeyId, 'hex') },
      { revokedAt: new Date() },
    );
    await this.vault.revoke(sessionKeyId);
  }

  /** Every session of the user but (optionally) the caller's. */
  async revokeAllForUser(
    userId: string,
    exceptSessionKeyId?: string,
  ): Promise<void> {
    await this.sessions.update(
      exceptSessionKeyId
        ? {
            userId,
            revokedAt: IsNull(),
            sidHash: Not(Buffer.from(exceptSessionKeyId, 'hex')),
          }
        : { userId, revokedAt: IsNull() },
      { revokedAt: new Date() },
    );
    await this.vault.revokeAllForUser(
      userId,
      exceptSessionKeyId ? { exceptSessionId: exceptSessionKeyId } : undefined,
    );
  }

  /**
   * A page of the user's live sessions, newest first by (createdAt, id) (docs/http-api.md#pagination):
   * the listed fields only (not the spent-token hashes, up to 3.2 KB a row).
   */
  async listForUser(
    userId: string,
    currentSessionKeyId: string,
    query: PageQueryDto,
  ): Promise<SessionPageDto> {
    const builder = this.sessions
      .createQueryBuilder('session')
      .select([
        'session.id',
        'session.sidHash',
        'session.createdAt',
        'session.lastUsedAt',
        'session.expiresAt',
      ])
      .where('session.userId = :userId', { userId })
      .andWhere('session.revokedAt IS NULL')
      .andWhere('session.expiresAt > :now', { now: new Date() });
    return readPage(
      builder,
      'session',
      query,
      (s) => ({
        id: s.id,
        createdAt: s.createdAt,
        lastUsedAt: s.lastUsedAt,
        expiresAt: s.expiresAt,
        current: s.sidHash.toString('hex') === currentSessionKeyId,
      }),
      // created_at keeps microseconds; cursors hold milliseconds.
      { createdAt: CREATED_MS },
    );
  }

  /** @returns false when no live session of this user has that id (another user's: also false). */
  async revokeById(userId: string, id: string): Promise<boolean> {
    const session = await this.sessions.findOneBy({
      id,
      userId,
      revokedAt: IsNull(),
    });
    if (!session) return false;
    await this.revoke(session);
    return true;
  }

  /** Audited before the revocation, so that a vault outage (503) does not lose the event. */
  private async revokeReplayed(
    session: Session,
    audit: AuditContext,
  ): Promise<never> {
    await this.audit.record(
      'auth.refresh_reuse',
      'failure',
      session.userId,
      audit,
    );
    await this.revoke(session);
    throw new InvalidTokenError(
      'This refresh token was already used; the session has been revoked.',
    );
  }

  private async revoke(session: Session): Promise<void> {
    await this.sessions.update({ id: session.id }, { revokedAt: new Date() });
    await this.vault.revoke(session.sidHash.toString('hex'));
  }

  private pair(accessToken: string, refreshToken: string): TokenPair {
    return {
      accessToken,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.tokens.accessTokenTtlSeconds,
    };
  }
}

/** Constant-time membership: every candidate is compared, whichever matches. */
function isOneOf(hash: Buffer, candidates: readonly Buffer[]): boolean {
  let found = false;
  for (const candidate of candidates)
    found = timingSafeEqual(candidate, hash) || found;
  return found;
}
