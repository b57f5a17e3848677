import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { VaultStore } from '../vault-store';
import { closeRedisConnection } from '../../redis/close-redis';
import {
  createFailFastRedis,
  waitForRedisReady,
} from '../../redis/fail-fast-redis';

export interface RedisVaultStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  idleTtlMs: number;
  maxTtlMs: number;
  clock?: () => number;
}

/*
 * Layout, with P the key prefix:
 *   P s:<sessionId>  hash { e: sealed entry (binary), u: user id, x: absolute expiry (ms epoch) }
 *                    PEXPIRE = min(idle, x − now), so Redis itself drops idle or finished sessions
 *   P u:<userId>     set of the user's session ids, expiring with the longest-lived of them
 * Each operation is one Lua script: reading and sliding the TTL, or replacing an entry while
 * keeping its absolute expiry, cannot interleave with another instance's writes.
 * The scripts build the other keys from the prefix, so this layout targets a single Redis
 * (standalone or Sentinel), not Redis Cluster.
 */

/** KEYS: session. ARGV: now, idle ms, prefix, session id. → sealed entry or nil. */
const GET_AND_SLIDE = `
local found = redis.call('HMGET', KEYS[1], 'e', 'x', 'u')
if not found[1] then return false end
local remaining = tonumber(found[2]) - tonumber(ARGV[1])
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', ARGV[3] .. 'u:' .. found[3], ARGV[4])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), remaining))
return found[1]
`;

/** KEYS: session, user index. ARGV: sealed, user id, now, idle ms, absolute expiry if new, prefix, session id. */
const PUT = `
local now = tonumber(ARGV[3])
local absolute = ARGV[5]
local previous = redis.call('HMGET', KEYS[1], 'u', 'x')
if previous[1] then
  if previous[1] == ARGV[2] then
    absolute = previous[2]
  else
    redis.call('SREM', ARGV[6] .. 'u:' .. previous[1], ARGV[7])
  end
end
local remaining = tonumber(absolute) - now
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[7])
  return 0
end
redis.call('HSET', KEYS[1], 'e', ARGV[1], 'u', ARGV[2], 'x', absolute)
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[4]), remaining))
-- Prune ids whose entries Redis has already expired, so the index stays the size of live sessions.
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[6] .. 's:' .. member) == 0 then redis.call('SREM', KEYS[2], member) end
end
redis.call('SADD', KEYS[2], ARGV[7])
if redis.call('PTTL', KEYS[2]) < remaining then redis.call('PEXPIRE', KEYS[2], remaining) end
return 1
`;

/**
 * KEYS: session. ARGV: sealed, user id, now, idle ms. → 1 if a live entry of that user was
 * replaced (keeping its absolute expiry), 0 if there is none: a replace never creates.
 */
const REPLACE_LIVE = `
local previous = redis.call('HMGET', KEYS[1], 'u', 'x')
if previous[1] ~= ARGV[2] then return 0 end
local remaining = tonumber(previous[2]) - tonumber(ARGV[3])
if remaining <= 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[4]), remaining))
return 1
`;

/** KEYS: session. ARGV: prefix, session id. → 1 if an entry was deleted. */
const DELETE = `
local userId = redis.call('HGET', KEYS[1], 'u')
if not userId then return 0 end
redis.call('SREM', ARGV[1] .. 'u:' .. userId, ARGV[2])
return redis.call('DEL', KEYS[1])
`;

/** KEYS: user index. ARGV: prefix, session id to keep ('' for none). → entries deleted. */
const DELETE_ALL_FOR_USER = `
local removed = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if member ~= ARGV[2] then
    removed = removed + redis.call('DEL', ARGV[1] .. 's:' .. member)
    redis.call('SREM', KEYS[1], member)
  end
end
return removed
`;

interface VaultCommands {
  vaultGetAndSlideBuffer(
    session: string,
    now: string,
    idleMs: string,
    prefix: string,
    sessionId: string,
  ): Promise<Buffer | null>;
  vaultPut(
    session: string,
    userIndex: string,
    sealed: Buffer,
    userId: string,
    now: string,
    idleMs: string,
    absoluteIfNew: string,
    prefix: string,
    sessionId: string,
  ): Promise<number>;
  vaultReplaceLive(
    session: string,
    sealed: Buffer,
    userId: string,
    now: string,
    idleMs: string,
  ): Promise<number>;
  vaultDelete(
    session: string,
    prefix: string,
    sessionId: string,
  ): Promise<number>;
  vaultDeleteAllForUser(
    userIndex: string,
    prefix: string,
    exceptSessionId: string,
  ): Promise<number>;
}

/**
 * Vault entries in Redis, shared by every app instance. The connection fails fast and heals by
 * itself (`createFailFastRedis`): while Redis is down or silent every operation rejects within
 * the command timeout, and the vault answers 503 until Redis is back.
 */
export class RedisVaultStore implements VaultStore {
  private readonly client: Redis & VaultCommands;
  private readonly clock: () => number;
  private readonly idleMs: string;
  private closed = false;

  constructor(private readonly options: RedisVaultStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.idleMs = String(options.idleTtlMs);
    this.client = createFailFastRedis({
      url: options.url,
      commandTimeoutMs: options.commandTimeoutMs,
      label: 'vault store',
      logger: new Logger(RedisVaultStore.name),
    }) as Redis & VaultCommands;
    this.client.defineCommand('vaultGetAndSlide', {
      numberOfKeys: 1,
      lua: GET_AND_SLIDE,
    });
    this.client.defineCommand('vaultPut', { numberOfKeys: 2, lua: PUT });
    this.client.defineCommand('vaultReplaceLive', {
      numberOfKeys: 1,
      lua: REPLACE_LIVE,
    });
    this.client.defineCommand('vaultDelete', { numberOfKeys: 1, lua: DELETE });
    this.client.defineCommand('vaultDeleteAllForUser', {
      numberOfKeys: 1,
      lua: DELETE_ALL_FOR_USER,
    });
  }

  /** Resolves true once connected, false if that takes longer than `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<boolean> {
    return waitForRedisReady(this.client, timeoutMs);
  }

  async put(sessionId: string, userId: string, sealed: Buffer): Promise<void> {
    const now = this.clock();
    await this.client.vaultPut(
      this.sessionKey(sessionId),
      this.userIndexKey(userId),
      sealed,
      userId,
      String(now),
      this.idleMs,
      String(now + this.options.maxTtlMs),
      this.options.keyPrefix,
      sessionId,
    );
  }

  async replace(
    sessionId: string,
    userId: string,
    sealed: Buffer,
  ): Promise<boolean> {
    const replaced = await this.client.vaultReplaceLive(
      this.sessionKey(sessionId),
      sealed,
      userId,
      String(this.clock()),
      this.idleMs,
    );
    return replaced === 1;
  }

  async get(sessionId: string): Promise<Buffer | undefined> {
    const sealed = await this.client.vaultGetAndSlideBuffer(
      this.sessionKey(sessionId),
      String(this.clock()),
      this.idleMs,
      this.options.keyPrefix,
      sessionId,
    );
    return sealed ?? undefined;
  }

  async delete(sessionId: string): Promise<boolean> {
    return (
      (await this.client.vaultDelete(
        this.sessionKey(sessionId),
        this.options.keyPrefix,
        sessionId,
      )) === 1
    );
  }

  deleteAllForUser(userId: string, exceptSessionId?: string): Promise<number> {
    return this.client.vaultDeleteAllForUser(
      this.userIndexKey(userId),
      this.options.keyPrefix,
      exceptSessionId ?? '',
    );
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeRedisConnection(this.client);
  }

  private sessionKey(sessionId: string): string {
    return `${this.options.keyPrefix}s:${sessionId}`;
  }

  private userIndexKey(userId: string): string {
    return `${this.options.keyPrefix}u:${userId}`;
  }
}
