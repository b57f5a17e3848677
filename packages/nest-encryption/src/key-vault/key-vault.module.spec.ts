import { Injectable, Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { findFreePort } from '../internal/find-free-port';
import { VaultUnavailableError } from './key-vault.errors';
import { KeyContextMiddleware } from './key-context.middleware';
import { KeyVaultModule } from './key-vault.module';
import {
  KEY_VAULT_DEFAULTS,
  RESOLVED_KEY_VAULT_OPTIONS,
  ResolvedKeyVaultOptions,
  resolveKeyVaultOptions,
} from './key-vault.options';
import { Keyring } from './keyring';
import { SessionKeyVault } from './session-key-vault';
import { MemoryVaultStore } from './stores/memory-vault-store';
import { newSession } from '../../test/support/session-key-vault.behaviour';
import { VAULT_STORE } from './vault-store';

beforeAll(() => {
  Logger.overrideLogger(false);
});
afterAll(() => {
  Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
});

describe('KeyVaultModule', () => {
  it('forRoot() provides a working SessionKeyVault and the middleware, with the defaults applied', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [KeyVaultModule.forRoot({ vaultKey: randomBytes(32) })],
    }).compile();
    const app = await moduleRef.init();

    const options = moduleRef.get<ResolvedKeyVaultOptions>(
      RESOLVED_KEY_VAULT_OPTIONS,
    );
    expect(options).toMatchObject({
      idleTtlMs: KEY_VAULT_DEFAULTS.idleTtlSeconds * 1000,
      maxTtlMs: KEY_VAULT_DEFAULTS.maxTtlSeconds * 1000,
      store: { type: 'memory', maxEntries: 100_000, sweepIntervalMs: 30_000 },
    });
    expect(moduleRef.get(VAULT_STORE)).toBeInstanceOf(MemoryVaultStore);
    expect(moduleRef.get(KeyContextMiddleware)).toBeInstanceOf(
      KeyContextMiddleware,
    );

    const vault = moduleRef.get(SessionKeyVault);
    const session = newSession();
    const key = randomBytes(32);
    await vault.store(
      session,
      new Keyring(session.userId, new Map([[1, Buffer.from(key)]]), 1),
    );
    expect((await vault.unlock(session)).activeKey().equals(key)).toBe(true);
    const stored = moduleRef
      .get<MemoryVaultStore>(VAULT_STORE)
      .peek(session.sessionId)!.sealed;

    // Shutdown: the store is closed and every buffer it held is zeroed.
    await app.close();
    expect(stored.every((byte) => byte === 0)).toBe(true);
    await expect(vault.unlock(session)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
  });

  it('forRootAsync() builds its options from injected providers', async () => {
    @Injectable()
    class SecretsService {
      readonly vaultKey = randomBytes(32);
    }
    @Module({ providers: [SecretsService], exports: [SecretsService] })
    class SecretsModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [
        KeyVaultModule.forRootAsync({
          imports: [SecretsModule],
          inject: [SecretsService],
          useFactory: (secrets: SecretsService) => ({
            vaultKey: secrets.vaultKey,
            idleTtlSeconds: 60,
            maxTtlSeconds: 120,
            store: { type: 'memory', maxEntries: 10 },
          }),
        }),
      ],
    }).compile();
    const app = await moduleRef.init();
    expect(
      moduleRef.get<ResolvedKeyVaultOptions>(RESOLVED_KEY_VAULT_OPTIONS),
    ).toMatchObject({
      idleTtlMs: 60_000,
      maxTtlMs: 120_000,
      store: { type: 'memory', maxEntries: 10, sweepIntervalMs: 30_000 },
    });
    await expect(moduleRef.get(SessionKeyVault).isAvailable()).resolves.toBe(
      true,
    );
    await app.close();
  });

  it('is global only when asked', () => {
    expect(
      KeyVaultModule.forRoot({ vaultKey: randomBytes(32), isGlobal: true })
        .global,
    ).toBe(true);
    expect(KeyVaultModule.forRoot({ vaultKey: randomBytes(32) }).global).toBe(
      false,
    );
    expect(
      KeyVaultModule.forRootAsync({
        useFactory: () => ({ vaultKey: randomBytes(32) }),
        isGlobal: true,
      }).global,
    ).toBe(true);
  });

  it('refuses to start with a vault key that is not 32 bytes', async () => {
    await expect(
      Test.createTestingModule({
        imports: [KeyVaultModule.forRoot({ vaultKey: randomBytes(16) })],
      }).compile(),
    ).rejects.toThrow(/vaultKey must be a Buffer of 32 bytes/);
  });

  it('starts without a reachable Redis, answers 503 meanwhile, and closes cleanly', async () => {
    const port = await findFreePort();
    const started = Date.now();
    const moduleRef = await Test.createTestingModule({
      imports: [
        KeyVaultModule.forRoot({
          vaultKey: randomBytes(32),
          store: {
            type: 'redis',
            url: `redis://127.0.0.1:${port}`,
            commandTimeoutMs: 200,
          },
        }),
      ],
    }).compile();
    const app = await moduleRef.init();
    expect(Date.now() - started).toBeLessThan(5_000);

    const vault = moduleRef.get(SessionKeyVault);
    await expect(vault.unlock(newSession())).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    await expect(vault.isAvailable()).resolves.toBe(false);
    await app.close();
  });
});

describe('resolveKeyVaultOptions', () => {
  const vaultKey = randomBytes(32);

  it('fills in the Redis defaults', () => {
    expect(
      resolveKeyVaultOptions({
        vaultKey,
        store: { type: 'redis', url: 'redis://localhost:6379' },
      }).store,
    ).toEqual({
      type: 'redis',
      url: 'redis://localhost:6379',
      keyPrefix: 'vault:',
      commandTimeoutMs: 1000,
    });
  });

  it.each([
    [
      { idleTtlSeconds: 600, maxTtlSeconds: 60 },
      /idleTtlSeconds must not be longer/,
    ],
    [{ idleTtlSeconds: 0 }, /idleTtlSeconds must be a positive/],
    [{ maxTtlSeconds: 1.5 }, /maxTtlSeconds must be a positive/],
    [{ store: { type: 'memory', maxEntries: -1 } }, /store.maxEntries/],
    [{ store: { type: 'redis', url: 'http://localhost' } }, /store.url/],
    [
      {
        store: { type: 'redis', url: 'redis://localhost', commandTimeoutMs: 0 },
      },
      /commandTimeoutMs/,
    ],
    [{ store: { type: 'disk' } }, /unknown store type "disk"/],
  ])('rejects %j', (options, message) => {
    expect(() =>
      resolveKeyVaultOptions({ vaultKey, ...(options as object) }),
    ).toThrow(message);
  });
});
