import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { KeyContext, Keyring } from '@vault-pii/nest-encryption';
import {
  AccessKeyMaterial,
  CryptoError,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import { AuditLogService } from '../../audit/audit-log.service';
import { InvalidTokenError } from '../auth.errors';
import { FixedWindowLimit } from '../rate-limit/fixed-window-limit';
import { RateLimitKeys } from '../rate-limit/rate-limit-keys';
import { RateLimitRedis } from '../rate-limit/rate-limit-redis';
import {
  accessKeySessionKeyId,
  type AuthenticatedSession,
} from '../../common/auth/authenticated-session';
import { DomainError } from '../../common/problem/domain-error';
import {
  AccessKeyVaultEntries,
  type AccessKeyRecord,
} from './access-key-vault-entries';
import { AppConfig } from '../../config/app-config';
import { ServerKeys } from '../../config/server-keys';
import {
  ACCESS_KEY_RATE_LIMIT_POLICY,
  type AccessKeyScope,
} from '../../common/auth/access-key-scopes';
import {
  AccessKeyAddressNotAllowedError,
  AccessKeyExpiredError,
  InsufficientScopeError,
} from '../../common/auth/access-key.errors';

/** `lastUsedAt` is written, and a use audited, at most this often per key and instance. */
export const ACCESS_KEY_USE_RECORD_INTERVAL_MS = 60_000;

/** Uses and refusals this instance recorded, at most this many remembered (oldest forgotten). */
const MAX_REMEMBERED_EVENTS = 10_000;

/** One row per data key version the access key holds a wrap of (none: `key_version` null). */
interface AccessKeyRow {
  id: string;
  user_id: string;
  scopes: AccessKeyScope[];
  allowed_addresses: string[] | null;
  expires_at: Date;
  active_key_version: number;
  key_version: number | null;
  sealed_data_key: Buffer | null;
}

const FIND_BY_LOOKUP = `
  SELECT k.id, k.user_id, k.scopes, k.allowed_addresses, k.expires_at,
         u.active_key_version, w.key_version, w.sealed_data_key
    FROM access_keys k
    JOIN users u ON u.id = k.user_id
    LEFT JOIN access_key_data_keys w ON w.access_key_id = k.id
   WHERE k.lookup_hash = $1`;

const RECORD_USE = `UPDATE access_keys SET last_used_at = now() WHERE id = $1`;

type Request = IncomingMessage & { ip?: string; id?: unknown };

/**
 * docs/access-keys.md#using-a-key: a `vpk_` bearer token in place of an access token. Its secret
 * and the server secret derive, by a few HMACs, the lookup that finds the key and the share that
 * opens its vault entry. The key's record (this instance read its row in the last
 * `ACCESS_KEY_RECHECK_MS`) is checked cheapest first: expiry (401), client address (403), the
 * per-key rate limit (429), the route's scope (403); then the keyring comes from the key's vault
 * entry, as a session's does (`AccessKeyVaultEntries`). Without a recent record or an entry, one
 * query finds the key by the lookup with its sealed data keys, each is opened (one X25519
 * operation each) and the keyring stored for the next request. A key that does not exist, or no
 * longer, is one 401 `invalid_token`, like a forged JWT, and is not audited (there is no user to
 * attribute it to); every other refusal is audited as `access_key.refused` (at most once a minute
 * per key and kind of refusal), and a use as `access_key.use` at most once a minute per key (when
 * `lastUsedAt` is written), per instance.
 */
@Injectable()
export class AccessKeyAuthenticator {
  private readonly logger = new Logger(AccessKeyAuthenticator.name);
  private readonly limit: FixedWindowLimit;
  private readonly rateLimitKeys: RateLimitKeys;
  /** Key id (a use) or key id and code (a refusal) → when this instance last recorded it. */
  private readonly recorded = new Map<string, number>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly serverKeys: ServerKeys,
    private readonly audit: AuditLogService,
    private readonly entries: AccessKeyVaultEntries,
    config: AppConfig,
    redis: RateLimitRedis,
  ) {
    this.rateLimitKeys = new RateLimitKeys(serverKeys.rateLimitKey);
    this.limit = new FixedWindowLimit(redis, {
      policy: {
        name: ACCESS_KEY_RATE_LIMIT_POLICY,
        quota: config.limits.accessKeyRequests,
        windowSeconds: config.limits.accessKeyRateWindowSeconds,
      },
      subject: 'the access key request counter',
      tooManyDetail: 'Too many requests with this access key; try again later.',
      logger: this.logger,
    });
  }

  /**
   * Authenticates `token` (already known to look like an access key) for a route needing `scope`
   * (undefined: a route for password sessions only), and attaches the key's keyring to the
   * request's key context.
   * @throws InvalidTokenError, AccessKeyExpiredError, AccessKeyAddressNotAllowedError,
   *   InsufficientScopeError, TooManyRequestsError, ServiceBusyError, VaultUnavailableError
   */
  async authenticate(
    token: string,
    request: Request,
    response: ServerResponse,
    scope: AccessKeyScope | undefined,
  ): Promise<AuthenticatedSession> {
    const material = AccessKeyMaterial.derive(
      token,
      this.serverKeys.accessKeySecret,
    );
    if (!material) throw new InvalidTokenError();
    try {
      const recent = this.entries.recent(material.lookup);
      if (recent) {
        await this.refuseUnless(recent, request, response, scope);
        const keyring = await this.entries.unlock(recent, material.vaultShare);
        if (keyring) return this.accepted(recent, keyring, material, request);
        // No entry: revoked (the row is gone too), or wiped by a change of keys. Read the row.
      }
      const rows = await this.dataSource.query<AccessKeyRow[]>(FIND_BY_LOOKUP, [
        material.lookup,
      ]);
      if (rows.length === 0) {
        this.entries.forget(material.lookup);
        throw new InvalidTokenError();
      }
      const record = recordOf(rows[0]);
      this.entries.remember(material.lookup, record);
      // Checked once per request: the recent record was this same row.
      if (!recent) await this.refuseUnless(record, request, response, scope);
      const keyring = this.openKeyring(material, rows);
      try {
        await this.entries.keep(record, keyring, material.vaultShare);
      } catch (error) {
        keyring.zero();
        this.entries.forget(material.lookup);
        throw error;
      }
      return this.accepted(record, keyring, material, request);
    } finally {
      material.zero();
    }
  }

  private accepted(
    key: AccessKeyRecord,
    keyring: Keyring,
    material: AccessKeyMaterial,
    request: Request,
  ): AuthenticatedSession {
    KeyContext.attach(keyring);
    this.recordUse(key, request);
    return {
      userId: key.userId,
      sessionKeyId: accessKeySessionKeyId(key.id),
      sid: Buffer.alloc(0),
      clientShare: Buffer.from(material.idempotencySecret),
      accessKey: { id: key.id, scopes: key.scopes },
    };
  }

  private async refuseUnless(
    key: AccessKeyRecord,
    request: Request,
    response: ServerResponse,
    scope: AccessKeyScope | undefined,
  ): Promise<void> {
    try {
      if (Date.now() >= key.expiresAt) {
        // Its keys need not wait for the store's idle expiry.
        void this.entries.deleteEntries([key.id]).catch(() => undefined);
        throw new AccessKeyExpiredError();
      }
      if (
        key.allowedAddresses &&
        !addressAllowed(request.ip, key.allowedAddresses)
      )
        throw new AccessKeyAddressNotAllowedError();
      // Counted before the scope check, so that a flood of out-of-scope calls is bounded too;
      // after the address check, so that calls from elsewhere cannot spend the owner's budget.
      await this.limit.admit(this.rateLimitKeys.forAccessKey(key.id), response);
      if (!scope || !key.scopes.includes(scope))
        throw new InsufficientScopeError(scope);
    } catch (error) {
      if (
        error instanceof DomainError &&
        error.code !== 'service_unavailable' &&
        this.firstInInterval(`${key.id} ${error.code}`)
      )
        await this.audit.record(
          'access_key.refused',
          'failure',
          key.userId,
          request,
        );
      throw error;
    }
  }

  /**
   * True when `event` (a key's use, or one kind of refusal of it) was not recorded by this
   * instance within the last `ACCESS_KEY_USE_RECORD_INTERVAL_MS`, and notes it now: audit rows
   * and `lastUsedAt` writes stay bounded however fast a key is used (or misused).
   */
  private firstInInterval(event: string): boolean {
    const now = Date.now();
    const last = this.recorded.get(event);
    if (last !== undefined && now - last < ACCESS_KEY_USE_RECORD_INTERVAL_MS)
      return false;
    this.recorded.delete(event);
    this.recorded.set(event, now);
    if (this.recorded.size > MAX_REMEMBERED_EVENTS)
      this.recorded.delete(this.recorded.keys().next().value!);
    return true;
  }

  /** Every sealed data key opened into a keyring (each open is one X25519 scalar multiplication). */
  private openKeyring(
    material: AccessKeyMaterial,
    rows: readonly AccessKeyRow[],
  ): Keyring {
    const { id, user_id: userId, active_key_version: active } = rows[0];
    const keys = new Map<number, Buffer>();
    try {
      for (const row of rows) {
        if (row.key_version === null || row.sealed_data_key === null) continue;
        keys.set(
          row.key_version,
          material.openDataKey(row.sealed_data_key, {
            userId,
            accessKeyId: id,
            keyVersion: row.key_version,
          }),
        );
      }
      return new Keyring(userId, keys, active);
    } catch (error) {
      zeroBuffer(...keys.values());
      // A wrap that does not open, or none for the active version: the row was altered, or the
      // key was created while a rotation committed. Either way this key unlocks nothing.
      this.logger.error(
        {
          accessKeyId: id,
          err: { type: error instanceof CryptoError ? error.name : 'Error' },
        },
        'access key data keys did not open',
      );
      throw new InvalidTokenError();
    }
  }

  /** `lastUsedAt` and an `access_key.use` event, at most once a minute per key (not awaited). */
  private recordUse(key: AccessKeyRecord, request: Request): void {
    if (!this.firstInInterval(key.id)) return;
    void Promise.all([
      this.dataSource.query(RECORD_USE, [key.id]),
      this.audit.record('access_key.use', 'success', key.userId, request),
    ]).catch((error: unknown) => {
      this.logger.warn(
        { err: { type: (error as Error)?.name } },
        'access key use not recorded',
      );
    });
  }

  /** Forgets recorded uses and refusals (tests drive `lastUsedAt` without waiting a minute). */
  forgetRecordedUses(): void {
    this.recorded.clear();
  }
}

function recordOf(row: AccessKeyRow): AccessKeyRecord {
  return {
    id: row.id,
    userId: row.user_id,
    scopes: row.scopes,
    allowedAddresses: row.allowed_addresses,
    expiresAt: row.expires_at.getTime(),
  };
}

/** Whether `ip` is in one of `allowed` (addresses or CIDR ranges, validated when the key was made). */
export function addressAllowed(
  ip: string | undefined,
  allowed: readonly string[],
): boolean {
  if (!ip) return false;
  // An IPv4 client seen on a dual-stack socket as ::ffff:a.b.c.d is checked as a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const client = mapped ? mapped[1] : ip;
  const family = familyOf(client);
  if (!family) return false;
  // Only entries of the client's own family: node's BlockList would otherwise let an IPv6 range
  // such as ::/0 hold every IPv4 client (as ::ffff:a.b.c.d), which no one writing ::/0 means.
  const list = new BlockList();
  for (const entry of allowed) {
    const [address, prefix] = entry.split('/');
    if (familyOf(address) !== family) continue;
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list.check(client, family);
}

function familyOf(address: string): 'ipv4' | 'ipv6' | null {
  return isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
}
