import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import type { TestingModule, TestingModuleBuilder } from '@nestjs/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import {
  AeadAlgorithm,
  generateDataKey,
  secureCopy,
  zeroBuffer,
} from '../crypto';
import { EncryptedColumnsModule } from '../encrypted-column/encrypted-columns.module';
import { KeyContext } from '../key-vault/key-context';
import { KeyContextMiddleware } from '../key-vault/key-context.middleware';
import type { KeyVaultModuleOptions } from '../key-vault/key-vault.options';
import { KeyVaultModule } from '../key-vault/key-vault.module';
import { Keyring } from '../key-vault/keyring';
import { SessionKeyVault } from '../key-vault/session-key-vault';
import type { VaultSession } from '../key-vault/vault-entry';
import { createTestDatabase, TestDatabase } from './test-database';
import { startTestPostgres } from './test-postgres';
import { throwAwayKeys, ThrowAwayKeys } from './throw-away-keys';

type PostgresOptions = Extract<DataSourceOptions, { type: 'postgres' }>;

/**
 * The key-version write guard's query (`liveKeySql`) for a test database whose keys are never
 * destroyed: it always finds its row. Tests of rotation pass their own.
 */
export const KEYS_NEVER_DESTROYED_SQL = 'SELECT $1::text, $2::int';

export interface EncryptionTestingModuleOptions {
  /** The modules under test (with their `TypeOrmModule.forFeature`). */
  imports?: ModuleMetadata['imports'];
  controllers?: ModuleMetadata['controllers'];
  providers?: ModuleMetadata['providers'];
  /** Entities besides those of `forFeature` (which are loaded automatically). */
  entities?: PostgresOptions['entities'];
  /**
   * Where the fresh database is created: `{ url }` of a server, `'embedded'` for a server of its
   * own (stopped by `close()`). Default: `DATABASE_URL`'s server, or an embedded one without it.
   */
  database?: { url: string } | 'embedded';
  /** The key-version write guard's query. Default `KEYS_NEVER_DESTROYED_SQL`. */
  liveKeySql?: string;
  /** AEAD for new ciphertexts. Default XChaCha20-Poly1305. */
  algorithm?: AeadAlgorithm;
  /** Vault options but the key (a throw-away one). Default: the in-memory store. */
  vault?: Omit<KeyVaultModuleOptions, 'vaultKey'>;
  /** Migrations to run instead of `synchronize` (the schema as production builds it). */
  migrations?: PostgresOptions['migrations'];
  /** More `TypeOrmModule.forRoot` options (a logger, `logging`). */
  typeOrm?: Omit<
    Partial<PostgresOptions>,
    'type' | 'url' | 'entities' | 'migrations' | 'synchronize'
  >;
  /** Overrides before compiling (`builder.overrideProvider(…)`). */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** Set up the app before `init()` (global pipes, filters, a prefix). */
  configureApp?: (app: INestApplication<Server>) => void | Promise<void>;
}

/** What `createEncryptionTestingModule` made; `close()` undoes all of it. */
export interface EncryptionTestingContext {
  moduleRef: TestingModule;
  /** Initialised, with `KeyContextMiddleware` on every route (not listening: use supertest). */
  app: INestApplication<Server>;
  dataSource: DataSource;
  vault: SessionKeyVault;
  /** The server secrets the modules were given (zeroed by `close()`). */
  keys: ThrowAwayKeys;
  database: TestDatabase;
  /** Closes the app, drops the database (stops its embedded server) and zeroes every key. */
  close(): Promise<void>;
}

/** A user's data keys by version, and the version that encrypts new data. */
export interface UserKeys {
  userId: string;
  keys: ReadonlyMap<number, Buffer>;
  activeVersion: number;
}

/** A user as a login leaves them: data keys, and a live vault session holding them. */
export interface TestUser extends UserKeys {
  session: VaultSession;
  /** A fresh keyring of the user's keys, owned by the caller (`withUserKeys` zeroes its own). */
  keyring(): Keyring;
}

export interface CreateUserWithKeysOptions {
  /** Default: a random UUID. */
  userId?: string;
  /** How many key versions (1…n) the user holds. Default 1. */
  versions?: number;
  /** Default: the newest version. */
  activeVersion?: number;
  /**
   * Writes the app's own rows for the user (a `users` row, wrapped keys), in one transaction
   * before the session opens.
   */
  persist?: (user: UserKeys, manager: EntityManager) => Promise<void>;
}

/** Data keys of users made for a context: zeroed by its `close()`. */
const userKeysOf = new WeakMap<EncryptionTestingContext, Buffer[]>();

/**
 * A Nest testing module with the encryption modules as an app has them, on a fresh database:
 * `TypeOrmModule.forRoot` (`synchronize`, unless `migrations` are given; `autoLoadEntities`),
 * `KeyVaultModule` (memory store) and `EncryptedColumnsModule`, both global, with throw-away keys.
 * See docs/testing.md#the-testing-module.
 */
export async function createEncryptionTestingModule(
  options: EncryptionTestingModuleOptions = {},
): Promise<EncryptionTestingContext> {
  const keys = throwAwayKeys();
  /** Undo steps, newest first. */
  const undo: (() => Promise<void>)[] = [];
  const undoAll = async () => {
    for (const step of undo.splice(0).reverse()) await step();
  };
  try {
    let database: TestDatabase;
    if (typeof options.database === 'object')
      database = await createTestDatabase(options.database.url);
    else {
      const server = await startTestPostgres({
        embedded: options.database === 'embedded',
      });
      undo.push(() => server.stop());
      database = await server.createDatabase();
    }
    undo.push(() => database.drop());

    // Optional peers, loaded only by the one function that needs them.
    const [{ Test }, { TypeOrmModule }] = await Promise.all([
      import('@nestjs/testing'),
      import('@nestjs/typeorm'),
    ]);
    const migrations = options.migrations;
    let builder = Test.createTestingModule({
      imports: [
        // A throw-away database: synchronize is acceptable here and only here.
        TypeOrmModule.forRoot({
          ...options.typeOrm,
          type: 'postgres',
          url: database.url,
          entities: options.entities,
          autoLoadEntities: true,
          synchronize: !migrations,
          migrations,
          migrationsRun: Boolean(migrations),
        }),
        KeyVaultModule.forRoot({
          ...options.vault,
          vaultKey: keys.vaultKey,
          isGlobal: true,
        }),
        EncryptedColumnsModule.forRoot({
          algorithm: options.algorithm,
          serverBlindIndexKey: keys.serverBlindIndexKey,
          liveKeySql: options.liveKeySql ?? KEYS_NEVER_DESTROYED_SQL,
          isGlobal: true,
        }),
        ...(options.imports ?? []),
      ],
      controllers: options.controllers,
      providers: options.providers,
    });
    if (options.override) builder = options.override(builder);
    const moduleRef = await builder.compile();
    const app = moduleRef.createNestApplication<INestApplication<Server>>({
      logger: false,
    });
    undo.push(() => app.close());
    const middleware = app.get(KeyContextMiddleware);
    app.use(middleware.use.bind(middleware));
    await options.configureApp?.(app);
    await app.init();

    const context: EncryptionTestingContext = {
      moduleRef,
      app,
      dataSource: app.get(DataSource),
      vault: app.get(SessionKeyVault),
      keys,
      database,
      async close() {
        try {
          await undoAll();
        } finally {
          zeroBuffer(...(userKeysOf.get(context) ?? []));
          userKeysOf.delete(context);
          keys.zero();
        }
      },
    };
    userKeysOf.set(context, []);
    return context;
  } catch (error) {
    await undoAll().catch(() => undefined);
    keys.zero();
    throw error;
  }
}

/**
 * A user with fresh data keys (versions 1…`versions`) and a live vault session holding them,
 * opened as a login opens one (`SessionKeyVault.open`, so `onKeyringUnlocked` listeners hear
 * `'opened'`). Its keys are zeroed by the context's `close()`.
 * @throws Error for versions or activeVersion out of range.
 */
export async function createUserWithKeys(
  context: EncryptionTestingContext,
  options: CreateUserWithKeysOptions = {},
): Promise<TestUser> {
  const versions = options.versions ?? 1;
  const activeVersion = options.activeVersion ?? versions;
  if (!Number.isSafeInteger(versions) || versions < 1 || versions > 255)
    throw new Error(
      'createUserWithKeys: versions must be a whole number 1…255',
    );
  if (
    !Number.isSafeInteger(activeVersion) ||
    activeVersion < 1 ||
    activeVersion > versions
  )
    throw new Error(
      'createUserWithKeys: activeVersion must be one of the versions 1…versions',
    );
  const tracked = userKeysOf.get(context);
  if (!tracked)
    throw new Error(
      'createUserWithKeys: the context is closed, or not from createEncryptionTestingModule',
    );
  const keys = new Map<number, Buffer>();
  for (let version = 1; version <= versions; version++) {
    const key = generateDataKey();
    tracked.push(key);
    keys.set(version, key);
  }
  const userId = options.userId ?? randomUUID();
  const user: UserKeys = { userId, keys, activeVersion };
  if (options.persist) {
    const persist = options.persist;
    await context.dataSource.transaction((manager) => persist(user, manager));
  }
  const session: VaultSession = {
    sessionId: randomBytes(16).toString('hex'),
    userId,
    clientShare: randomBytes(32),
  };
  const keyring = () => keyringOf(user);
  const opened = keyring();
  try {
    await context.vault.open(session, opened);
  } finally {
    opened.zero();
  }
  return { ...user, session, keyring };
}

/**
 * Runs `work` with the user's keys as the current keys (`KeyContext`), as a request holding them
 * would: a fresh keyring per call, zeroed once `work` has settled. A `Keyring` given is copied
 * (the caller keeps and zeroes its own).
 * @throws Error (rejects) when the user's keys hold no key of its active version.
 */
export async function withUserKeys<T>(
  user: UserKeys | Keyring,
  work: () => Promise<T> | T,
): Promise<T> {
  return KeyContext.runWithKeyring(
    user instanceof Keyring ? user.copy() : keyringOf(user),
    work,
  );
}

function keyringOf({ userId, keys, activeVersion }: UserKeys): Keyring {
  if (!keys.has(activeVersion))
    throw new Error(`the user's keys hold no active version ${activeVersion}`);
  const copies = new Map<number, Buffer>();
  for (const [version, key] of keys) copies.set(version, secureCopy(key));
  return new Keyring(userId, copies, activeVersion);
}
