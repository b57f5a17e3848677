import {
  DynamicModule,
  Injectable,
  MiddlewareConsumer,
  Module,
  NestModule,
  OnApplicationShutdown,
  RequestMethod,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  EncryptedColumnsModule,
  EncryptionSecrets,
  KeyContextMiddleware,
  KeyVaultModule,
  UserKeyHierarchy,
  deriveEncryptionSecrets,
} from '@vault-pii/nest-encryption';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { AuthController } from './auth/auth.controller';
import { AuthService } from './auth/auth.service';
import { EncryptionErrorFilter } from './auth/encryption-error.filter';
import { SessionGuard } from './auth/session.guard';
import type { ExampleConfig } from './config';
import { CreateUsersAndNotes1796500000000 } from './migrations/1796500000000-CreateUsersAndNotes';
import { Note } from './notes/note.entity';
import { NotesController } from './notes/notes.controller';
import { NotesService } from './notes/notes.service';
import { UserDataKey } from './users/user-data-key.entity';
import { User } from './users/user.entity';

/**
 * The key-version write guard's check: a row while the owner's key version exists, locked until
 * the transaction commits (so a rotation cannot destroy it in between).
 */
const LIVE_KEY_SQL =
  'SELECT 1 FROM user_data_keys WHERE user_id = $1 AND key_version = $2 FOR KEY SHARE';

/** The server secrets, in locked memory, wiped once the app has shut down. */
@Injectable()
class ServerSecrets implements OnApplicationShutdown {
  constructor(readonly secrets: EncryptionSecrets) {}

  onApplicationShutdown(): void {
    const { pepper, argon2OutputKey, blindIndexKey, vaultKey } = this.secrets;
    zeroBuffer(pepper, argon2OutputKey, blindIndexKey, vaultKey);
  }
}

@Module({})
export class AppModule implements NestModule {
  static forRoot(config: ExampleConfig): DynamicModule {
    const secrets = deriveEncryptionSecrets(config.masterKey);
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: config.databaseUrl,
          entities: [User, UserDataKey, Note],
          migrations: [CreateUsersAndNotes1796500000000],
          migrationsRun: true,
        }),
        KeyVaultModule.forRoot({ vaultKey: secrets.vaultKey }),
        EncryptedColumnsModule.forRoot({
          serverBlindIndexKey: secrets.blindIndexKey,
          liveKeySql: LIVE_KEY_SQL,
        }),
      ],
      controllers: [AuthController, NotesController],
      providers: [
        { provide: ServerSecrets, useValue: new ServerSecrets(secrets) },
        {
          provide: UserKeyHierarchy,
          useValue: new UserKeyHierarchy({
            pepper: secrets.pepper,
            argon2OutputKey: secrets.argon2OutputKey,
          }),
        },
        AuthService,
        NotesService,
        { provide: APP_GUARD, useClass: SessionGuard },
        { provide: APP_FILTER, useClass: EncryptionErrorFilter },
      ],
    };
  }

  /** Every request runs in its own key scope; its keyring is zeroed when the response ends. */
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(KeyContextMiddleware)
      .forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }
}
