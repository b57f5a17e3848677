import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Repository } from 'typeorm';
import { AeadAlgorithm } from '@vault-pii/nest-encryption/crypto';
import { describeUnexpectedError } from '../common/problem/problem-details.filter';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';
import { IdempotencyRecord } from './idempotency-record.entity';
import {
  IdempotencyKeyReusedError,
  IdempotencyRequestInProgressError,
} from './idempotency.errors';
import {
  OutcomeKeys,
  StoredOutcome,
  deriveOutcomeKeys,
  idempotencyRecordId,
  openOutcome,
  requestFingerprint,
  sealOutcome,
} from './idempotency-secrets';

/** How long a record answers for its key (docs/limits.md#idempotency). */
export const IDEMPOTENCY_RECORD_TTL_SECONDS = 24 * 60 * 60;
/**
 * How long a first request holds its key before another may take it over (its process may have
 * died). Longer than any decorated route runs: they wait at most a few seconds for argon2id, a
 * lock or a PDF worker.
 */
export const IDEMPOTENCY_LEASE_SECONDS = 60;
/**
 * Requests reusing a key with another body that a completed record answers (422) before it stops
 * replaying at all: a 422-or-replay answer tells whether a guessed body (a password) matches, so
 * the guesses are bounded like the per-account failure limit's (docs/http-api.md#idempotency).
 */
export const IDEMPOTENCY_MISMATCH_LIMIT = 10;
/** A record that vanished or expired between the claim and the read is claimed again this often. */
const CLAIM_ATTEMPTS = 3;

/** One request carrying an `Idempotency-Key`. */
export interface IdempotentRequest {
  /** `METHOD /path-template`: the key is scoped to its route. */
  route: string;
  /** Names the caller (its session, or the hash of its refresh token). */
  scope: string;
  key: string;
  /** A secret only the caller holds (not kept: the keys derived from it are). */
  callerSecret: Buffer;
  method: string;
  path: string;
  /** The parsed JSON body, before validation transforms it. */
  body: unknown;
}

/** The right to run the handler once for a key; completed or abandoned exactly once. */
export interface IdempotencyLease {
  readonly recordId: Buffer;
  readonly leaseToken: Buffer;
  readonly keys: OutcomeKeys;
}

/**
 * A register's or login's lease: its record was claimed without a fingerprint, and its keys come
 * from the secret the flow derives (`completeWithSecret`).
 */
export interface PasswordIdempotencyLease {
  readonly recordId: Buffer;
  readonly leaseToken: Buffer;
  /** What the fingerprint covers, kept until the secret is known. */
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export type IdempotencyDecision =
  | { kind: 'run'; lease: IdempotencyLease }
  | { kind: 'replay'; status: number; outcome: StoredOutcome };

export type PasswordIdempotencyDecision =
  | { kind: 'run'; lease: PasswordIdempotencyLease }
  | { kind: 'replay'; status: number; outcome: StoredOutcome };

/** A register or login with an `Idempotency-Key` (scope: the canonical email). */
export interface PasswordIdempotentRequest extends Omit<
  IdempotentRequest,
  'callerSecret'
> {
  /**
   * Checks a replay's password against a completed record (`PasswordReplayResolver`, bound to
   * this request); `open` tries a derived secret against the record.
   */
  resolveReplay(
    open: (secret: Buffer) => StoredOutcome | undefined,
  ): Promise<{ outcome: StoredOutcome } | 'stale'>;
}

/**
 * The first request with a key inserts its record (`in_progress`, with a lease) in one statement,
 * or takes over one whose lease or lifetime ran out; any other finds the record and is answered
 * from it. Claim and take-over are one `INSERT … ON CONFLICT DO UPDATE … WHERE`, so two
 * instances racing for one key never both run the handler.
 */
const CLAIM = `
  INSERT INTO idempotency_records AS r
         (id, state, fingerprint, lease_token, lease_expires_at, expires_at)
  VALUES ($1, 'in_progress', $2, $3,
          now() + make_interval(secs => $4), now() + make_interval(secs => $5))
  ON CONFLICT (id) DO UPDATE
     SET state = 'in_progress', fingerprint = EXCLUDED.fingerprint,
         lease_token = EXCLUDED.lease_token, lease_expires_at = EXCLUDED.lease_expires_at,
         mismatches = 0, response_status = NULL, response_envelope = NULL,
         created_at = now(), expires_at = EXCLUDED.expires_at
   WHERE r.expires_at <= now()
      OR (r.state = 'in_progress' AND r.lease_expires_at <= now())
  RETURNING 1 AS claimed`;

const READ = `
  SELECT state, fingerprint, mismatches, response_status, response_envelope,
         EXTRACT(EPOCH FROM lease_expires_at - now())::float8 AS lease_seconds_left
    FROM idempotency_records
   WHERE id = $1 AND expires_at > now()`;

/**
 * A completed register or login record whose secret changed since (`stale`) is claimed again by
 * the request that proved the current password; the fingerprint it was read with decides between
 * two such requests.
 */
const RECLAIM_STALE = `
  UPDATE idempotency_records
     SET state = 'in_progress', fingerprint = NULL, lease_token = $3,
         lease_expires_at = now() + make_interval(secs => $4), mismatches = 0,
         response_status = NULL, response_envelope = NULL, created_at = now(),
         expires_at = now() + make_interval(secs => $5)
   WHERE id = $1 AND state = 'completed' AND fingerprint = $2 AND expires_at > now()
  RETURNING 1 AS claimed`;

interface StoredRecord {
  state: 'in_progress' | 'completed';
  /** Null while a register or login runs: its secret is not known before argon2id. */
  fingerprint: Buffer | null;
  mismatches: number;
  response_status: number | null;
  response_envelope: Buffer | null;
  lease_seconds_left: number;
}

/** docs/http-api.md#idempotency: claims, completes, releases and replays records. */
@Injectable()
export class IdempotencyService {
  private readonly logger = new Logger(IdempotencyService.name);
  private readonly algorithm: AeadAlgorithm;

  constructor(
    @InjectRepository(IdempotencyRecord)
    private readonly records: Repository<IdempotencyRecord>,
    private readonly serverKeys: ServerKeys,
    config: AppConfig,
  ) {
    this.algorithm =
      config.encryptionAlgorithm === 'aes-256-gcm'
        ? AeadAlgorithm.Aes256Gcm
        : AeadAlgorithm.XChaCha20Poly1305;
  }

  /**
   * Run the handler (this request holds the key now), or replay the first outcome.
   * @throws IdempotencyKeyReusedError another body under this key (422)
   * @throws IdempotencyRequestInProgressError the first request is still running (409)
   */
  async begin(request: IdempotentRequest): Promise<IdempotencyDecision> {
    const recordId = idempotencyRecordId(
      this.serverKeys.idempotencyKey,
      request.route,
      request.scope,
      request.key,
    );
    const { keys, fingerprint } = this.outcomeKeysFor(
      request.callerSecret,
      recordId,
      request,
    );
    let leased = false;
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        const leaseToken = await this.claim(recordId, fingerprint);
        if (leaseToken) {
          leased = true;
          return { kind: 'run', lease: { recordId, leaseToken, keys } };
        }
        const record = await this.read(recordId);
        // Released (the first request failed) or expired since the claim: claim again.
        if (!record) continue;
        if (
          !record.fingerprint ||
          !timingSafeEqual(record.fingerprint, fingerprint)
        ) {
          await this.records.query(
            'UPDATE idempotency_records SET mismatches = mismatches + 1 WHERE id = $1',
            [recordId],
          );
          throw new IdempotencyKeyReusedError();
        }
        if (record.mismatches >= IDEMPOTENCY_MISMATCH_LIMIT)
          throw new IdempotencyKeyReusedError();
        if (record.state === 'in_progress') {
          if (record.lease_seconds_left <= 0) continue; // ran out since the claim: take it over
          throw new IdempotencyRequestInProgressError(
            record.lease_seconds_left,
          );
        }
        const status = record.response_status!;
        return {
          kind: 'replay',
          status,
          outcome: openOutcome(
            keys.sealKey,
            recordId,
            status,
            record.response_envelope!,
          ),
        };
      }
      throw new IdempotencyRequestInProgressError(1);
    } finally {
      if (!leased) keys.zero();
    }
  }

  /**
   * Register and login: claims the key with no fingerprint (the secret comes from the flow's
   * argon2id), so a duplicate while the first runs is 409 whatever its body. A completed record
   * is found by its id alone; `resolveReplay` then checks the password as a login does before
   * anything is opened. A record the current password cannot open (`stale`) is claimed again.
   * @throws IdempotencyKeyReusedError, IdempotencyRequestInProgressError, and what the resolver
   *   throws (429 locked, 503).
   */
  async beginWithPassword(
    request: PasswordIdempotentRequest,
  ): Promise<PasswordIdempotencyDecision> {
    const recordId = idempotencyRecordId(
      this.serverKeys.idempotencyKey,
      request.route,
      request.scope,
      request.key,
    );
    const leaseOf = (leaseToken: Buffer): PasswordIdempotencyDecision => ({
      kind: 'run',
      lease: {
        recordId,
        leaseToken,
        method: request.method,
        path: request.path,
        body: request.body,
      },
    });
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const leaseToken = await this.claim(recordId, null);
      if (leaseToken) return leaseOf(leaseToken);
      const record = await this.read(recordId);
      if (!record) continue;
      if (record.state === 'in_progress') {
        if (record.lease_seconds_left <= 0) continue;
        throw new IdempotencyRequestInProgressError(record.lease_seconds_left);
      }
      const status = record.response_status!;
      const storedFingerprint = record.fingerprint!;
      const resolved = await request.resolveReplay((secret) =>
        this.openWithSecret(secret, recordId, request, storedFingerprint, {
          status,
          envelope: record.response_envelope!,
        }),
      );
      if (resolved !== 'stale')
        return { kind: 'replay', status, outcome: resolved.outcome };
      // The password is right but the record was sealed under an older secret: the key is
      // treated as absent, and this request's answer replaces the old one.
      const reclaimed = await this.claim(
        recordId,
        storedFingerprint,
        RECLAIM_STALE,
      );
      if (reclaimed) return leaseOf(reclaimed);
      // Another request took it meanwhile: read it again.
    }
    throw new IdempotencyRequestInProgressError(1);
  }

  /**
   * The record's sealing and fingerprint keys from the caller's secret, and the request's
   * fingerprint under them. The keys are the caller's to zero; if fingerprinting throws, they are
   * zeroed here.
   */
  private outcomeKeysFor(
    secret: Buffer,
    recordId: Buffer,
    request: { method: string; path: string; body: unknown },
  ): { keys: OutcomeKeys; fingerprint: Buffer } {
    const keys = deriveOutcomeKeys(
      secret,
      this.serverKeys.idempotencyKey,
      recordId,
    );
    try {
      return {
        keys,
        fingerprint: requestFingerprint(
          keys.fingerprintKey,
          request.method,
          request.path,
          request.body,
        ),
      };
    } catch (error) {
      keys.zero();
      throw error;
    }
  }

  /**
   * Inserts the record, or takes over an expired or abandoned one (`CLAIM`; `RECLAIM_STALE`: a
   * completed one read with `fingerprint`).
   * @returns the new lease token when this request holds the key now.
   */
  private async claim(
    recordId: Buffer,
    fingerprint: Buffer | null,
    statement: typeof CLAIM | typeof RECLAIM_STALE = CLAIM,
  ): Promise<Buffer | undefined> {
    const leaseToken = randomBytes(16);
    const claimed = await this.records.query<unknown[]>(statement, [
      recordId,
      fingerprint,
      leaseToken,
      IDEMPOTENCY_LEASE_SECONDS,
      IDEMPOTENCY_RECORD_TTL_SECONDS,
    ]);
    return claimed.length > 0 ? leaseToken : undefined;
  }

  /** The live record, or undefined when it was released or expired. */
  private async read(recordId: Buffer): Promise<StoredRecord | undefined> {
    const [record] = await this.records.query<StoredRecord[]>(READ, [recordId]);
    return record;
  }

  /** The stored answer if the request's fingerprint under `secret` matches the record's. */
  private openWithSecret(
    secret: Buffer,
    recordId: Buffer,
    request: Pick<PasswordIdempotentRequest, 'method' | 'path' | 'body'>,
    storedFingerprint: Buffer,
    stored: { status: number; envelope: Buffer },
  ): StoredOutcome | undefined {
    const { keys, fingerprint } = this.outcomeKeysFor(
      secret,
      recordId,
      request,
    );
    try {
      if (!timingSafeEqual(storedFingerprint, fingerprint)) return undefined;
      return openOutcome(
        keys.sealKey,
        recordId,
        stored.status,
        stored.envelope,
      );
    } finally {
      keys.zero();
    }
  }

  /**
   * Completes a register's or login's record: the fingerprint and the sealing key come from the
   * secret the flow derived (zeroed by the caller). Logged, not thrown, like `complete`.
   */
  async completeWithSecret(
    lease: PasswordIdempotencyLease,
    secret: Buffer,
    status: number,
    outcome: StoredOutcome,
  ): Promise<void> {
    let keys: OutcomeKeys | undefined;
    try {
      await this.store(lease, status, outcome, () => {
        const derived = this.outcomeKeysFor(secret, lease.recordId, lease);
        keys = derived.keys;
        return { sealKey: keys.sealKey, fingerprint: derived.fingerprint };
      });
    } finally {
      keys?.zero();
    }
  }

  /**
   * Stores a 2xx outcome for replay. A failure here is logged, not thrown: the handler's work is
   * done and its answer must reach the client; the record stays in progress until its lease ends,
   * after which a retry runs again.
   */
  async complete(
    lease: IdempotencyLease,
    status: number,
    outcome: StoredOutcome,
  ): Promise<void> {
    try {
      await this.store(lease, status, outcome, () => ({
        sealKey: lease.keys.sealKey,
        fingerprint: null,
      }));
    } finally {
      lease.keys.zero();
    }
  }

  /** Seals and stores the outcome (and the fingerprint, when only known now); logs a failure. */
  private async store(
    lease: Pick<IdempotencyLease, 'recordId' | 'leaseToken'>,
    status: number,
    outcome: StoredOutcome,
    keysOf: () => { sealKey: Buffer; fingerprint: Buffer | null },
  ): Promise<void> {
    try {
      const { sealKey, fingerprint } = keysOf();
      const envelope = sealOutcome(
        sealKey,
        lease.recordId,
        status,
        outcome,
        this.algorithm,
      );
      await this.records.query(
        `UPDATE idempotency_records
            SET state = 'completed', response_status = $3, response_envelope = $4,
                fingerprint = COALESCE($5, fingerprint), lease_token = NULL
          WHERE id = $1 AND lease_token = $2 AND state = 'in_progress'`,
        [lease.recordId, lease.leaseToken, status, envelope, fingerprint],
      );
    } catch (error) {
      this.logger.error(
        { err: describeUnexpectedError(error) },
        'idempotency outcome not stored',
      );
    }
  }

  /**
   * Forgets the key after a failure (any error, 4xx or 5xx, or a non-2xx status), so that a
   * retry runs the handler again: a transient 409 `rotation_in_progress` or a 503 must not be
   * replayed for a day. Best effort: if it fails, the lease runs out instead.
   */
  async release(
    lease: Pick<IdempotencyLease, 'recordId' | 'leaseToken'> & {
      keys?: OutcomeKeys;
    },
  ): Promise<void> {
    try {
      await this.records.query(
        `DELETE FROM idempotency_records
          WHERE id = $1 AND lease_token = $2 AND state = 'in_progress'`,
        [lease.recordId, lease.leaseToken],
      );
    } catch (error) {
      this.logger.error(
        { err: describeUnexpectedError(error) },
        'idempotency record not released',
      );
    } finally {
      lease.keys?.zero();
    }
  }
}
