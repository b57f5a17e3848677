import {
  Column,
  DataSource,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { BlindIndex } from '../encrypted-column/blind-index';
import { EncryptedColumn } from '../encrypted-column/encrypted-column';
import {
  EncryptionOwner,
  EntityClass,
} from '../encrypted-column/encryption-owner';
import {
  discoverEncryptedEntities,
  EncryptedEntityDiscoveryError,
} from './encrypted-entity-catalog';

@Entity({ name: 'catalog_owners' })
class Owner {
  @PrimaryGeneratedColumn('uuid')
  @EncryptionOwner()
  id: string;

  @EncryptedColumn()
  secret: string | null;
}

@Entity({ name: 'catalog_notes' })
class Note {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'author_id', type: 'uuid' })
  authorId: string;

  @EncryptedColumn({ name: 'body_text' })
  body: string | null;

  @Column({ type: 'text' })
  plain: string;

  @ManyToOne(() => Owner)
  @JoinColumn({ name: 'author_id' })
  author?: Owner;
}

@Entity({ name: 'catalog_marked' })
class Marked {
  @PrimaryColumn({ type: 'int' })
  id: number;

  @Column({ name: 'belongs_to', type: 'uuid' })
  @EncryptionOwner()
  belongsTo: string;

  @EncryptedColumn()
  value: string | null;
}

@Entity({ name: 'catalog_indexed' })
class Indexed {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  @EncryptionOwner()
  ownerId: string;

  @EncryptedColumn()
  email: string | null;

  @BlindIndex({
    source: 'email',
    normalize: (value) => value,
    name: 'email_idx',
  })
  emailIndex: Buffer | null;

  @BlindIndex({
    source: 'code',
    normalize: (value) => value,
    keyedBy: 'server',
  })
  codeIndex: Buffer | null;

  @Column({ type: 'text' })
  code: string;
}

@Entity({ name: 'catalog_orphans' })
class Orphan {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @EncryptedColumn()
  value: string | null;
}

@Entity({ name: 'catalog_plain' })
class Plain {
  @PrimaryGeneratedColumn('uuid')
  id: string;
}

/** Entity metadata as the app builds it, without connecting. */
async function metadataOf(entities: EntityClass[]) {
  const dataSource = new DataSource({ type: 'postgres', entities });
  await (
    dataSource as unknown as { buildMetadatas(): Promise<void> }
  ).buildMetadatas();
  return {
    metadatas: dataSource.entityMetadatas,
    normalizeType: (
      column: Parameters<typeof dataSource.driver.normalizeType>[0],
    ) => dataSource.driver.normalizeType(column),
  };
}

describe('discoverEncryptedEntities', () => {
  it('finds every entity with an @EncryptedColumn and its owner column: marked, by relation, or its own key', async () => {
    const { metadatas, normalizeType } = await metadataOf([
      Owner,
      Note,
      Marked,
      Plain,
    ]);
    const found = discoverEncryptedEntities(metadatas, normalizeType);
    const summary = found.map((entity) => ({
      name: entity.name,
      table: entity.tablePath.join('.'),
      owner: entity.ownerColumn,
      primary: [
        entity.primaryColumn.databaseName,
        entity.primaryColumn.sqlType,
      ],
      columns: entity.encryptedColumns.map((column) => column.databaseName),
    }));
    expect(summary).toEqual([
      {
        name: 'Owner',
        table: 'catalog_owners',
        owner: 'id',
        primary: ['id', 'uuid'],
        columns: ['secret'],
      },
      {
        name: 'Note',
        table: 'catalog_notes',
        owner: 'author_id',
        primary: ['id', 'uuid'],
        columns: ['body_text'],
      },
      {
        name: 'Marked',
        table: 'catalog_marked',
        owner: 'belongs_to',
        primary: ['id', 'integer'],
        columns: ['value'],
      },
    ]);
  });

  it("lists the blind indexes computed from an encrypted column, up front (not from a row's values)", async () => {
    const { metadatas, normalizeType } = await metadataOf([Owner, Indexed]);
    const found = discoverEncryptedEntities(metadatas, normalizeType);
    expect(found.map((entity) => [entity.name, entity.blindIndexes])).toEqual([
      ['Owner', []],
      ['Indexed', [{ propertyName: 'emailIndex', databaseName: 'email_idx' }]],
    ]);
  });

  it('fails loudly (at start-up) for an encrypted entity whose owner cannot be found', async () => {
    const { metadatas, normalizeType } = await metadataOf([Owner, Orphan]);
    expect(() => discoverEncryptedEntities(metadatas, normalizeType)).toThrow(
      EncryptedEntityDiscoveryError,
    );
    expect(() => discoverEncryptedEntities(metadatas, normalizeType)).toThrow(
      /Orphan has no relation to its owner: mark the owner column with @EncryptionOwner\(\)/,
    );
  });

  it('refuses a second @EncryptionOwner on one entity', () => {
    expect(() => {
      class Twice {
        @EncryptionOwner() a: string;
        @EncryptionOwner() b: string;
      }
      return Twice;
    }).toThrow(/two @EncryptionOwner columns/);
  });
});
