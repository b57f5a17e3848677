// The test kit's complete example (docs/testing.md embeds this file; a test keeps the two equal).
import {
  Body,
  CanActivate,
  Controller,
  ExecutionContext,
  Get,
  Injectable,
  Module,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import request from 'supertest';
import {
  Column,
  Entity,
  EntityManager,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  Relation,
  Repository,
} from 'typeorm';
import {
  DataIntegrityError,
  EncryptedColumn,
  EncryptionOwner,
  KeyContext,
  SessionKeyVault,
} from '@vault-pii/nest-encryption';
import {
  assertStoredAsCiphertext,
  createEncryptionTestingModule,
  createUserWithKeys,
  EncryptionTestingContext,
  TestUser,
  UserKeys,
  withUserKeys,
} from '@vault-pii/nest-encryption/testing';

// --- The app under test: accounts own notes, whose title and body are encrypted ---

@Entity({ name: 'accounts' })
class Account {
  @PrimaryColumn('uuid')
  @EncryptionOwner()
  id: string;
}

@Entity({ name: 'notes' })
class Note {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @ManyToOne(() => Account, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id' })
  owner?: Relation<Account>;

  @EncryptedColumn()
  title: string;

  @EncryptedColumn()
  body: string | null;
}

interface AuthenticatedRequest {
  headers: { authorization?: string };
  userId?: string;
}

/**
 * Stands in for the app's authentication: the bearer token names a vault session
 * (`userId.sessionId.clientShare`), whose keyring is attached to the request's key scope.
 */
@Injectable()
class SessionKeysGuard implements CanActivate {
  constructor(private readonly vault: SessionKeyVault) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [userId, sessionId, clientShare] = token?.split('.') ?? [];
    if (!userId || !sessionId || !clientShare)
      throw new UnauthorizedException();
    const session = {
      userId,
      sessionId,
      clientShare: Buffer.from(clientShare, 'base64url'),
    };
    KeyContext.attach(await this.vault.unlock(session));
    req.userId = userId;
    return true;
  }
}

@Controller('notes')
@UseGuards(SessionKeysGuard)
class NotesController {
  constructor(
    @InjectRepository(Note) private readonly notes: Repository<Note>,
  ) {}

  @Post()
  async create(
    @Req() req: AuthenticatedRequest,
    @Body() input: { title: string; body?: string },
  ): Promise<{ id: string }> {
    const note = await this.notes.save(
      this.notes.create({
        ownerId: req.userId,
        title: input.title,
        body: input.body ?? null,
      }),
    );
    return { id: note.id };
  }

  @Get(':id')
  async read(
    @Req() req: AuthenticatedRequest,
    @Param('id', ParseUUIDPipe) id: string,
  ): Promise<{ title: string; body: string | null }> {
    const note = await this.notes.findOneBy({ id, ownerId: req.userId });
    if (!note) throw new NotFoundException();
    return { title: note.title, body: note.body };
  }
}

@Module({
  imports: [TypeOrmModule.forFeature([Account, Note])],
  controllers: [NotesController],
  providers: [SessionKeysGuard],
})
class NotesModule {}

// --- The tests ---

/** The token `SessionKeysGuard` reads, for a user of the kit. */
const bearer = (user: TestUser): [string, string] => [
  'Authorization',
  `Bearer ${user.userId}.${user.session.sessionId}.${user.session.clientShare.toString('base64url')}`,
];

/** Writes a note as `user` through the route; resolves with its id. */
async function postNote(
  http: () => ReturnType<typeof request>,
  user: TestUser,
  note: { title: string; body?: string },
): Promise<string> {
  const response = await http()
    .post('/notes')
    .set(...bearer(user))
    .send(note)
    .expect(201);
  return (response.body as { id: string }).id;
}

describe('notes (with @vault-pii/nest-encryption/testing)', () => {
  let testing: EncryptionTestingContext;
  let alice: TestUser;
  let bob: TestUser;
  const http = () => request(testing.app.getHttpServer());

  beforeAll(async () => {
    testing = await createEncryptionTestingModule({ imports: [NotesModule] });
    // Each user gets data keys and a live vault session; the app's own row is written first.
    const persist = async (user: UserKeys, manager: EntityManager) => {
      await manager.insert(Account, { id: user.userId });
    };
    alice = await createUserWithKeys(testing, { persist });
    bob = await createUserWithKeys(testing, { persist });
  });
  afterAll(() => testing?.close());

  it('stores a note as ciphertext and gives it back to its owner', async () => {
    const note = { title: 'Passport number', body: 'X1234567, expires 2031' };
    const id = await postNote(http, alice, note);

    await assertStoredAsCiphertext(testing.dataSource, Note, id, {
      keyVersion: 1,
      plaintexts: [note.title, note.body],
    });
    await http()
      .get(`/notes/${id}`)
      .set(...bearer(alice))
      .expect(200, note);
  });

  it('refuses a request without a session', async () => {
    await http().post('/notes').send({ title: 'anonymous' }).expect(401);
  });

  it('another user cannot read it: not through the route, not with the row in hand', async () => {
    const id = await postNote(http, alice, { title: 'Diary' });

    await http()
      .get(`/notes/${id}`)
      .set(...bearer(bob))
      .expect(404);
    // Even a query that forgot the owner check cannot open it with Bob's keys.
    await expect(
      withUserKeys(bob, () =>
        testing.dataSource.getRepository(Note).findOneBy({ id }),
      ),
    ).rejects.toThrow(DataIntegrityError);
  });
});
