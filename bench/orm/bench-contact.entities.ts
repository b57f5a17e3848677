/**
 * The ORM bench's entity, shaped like `src/contacts/contact.entity.ts`: a UUID primary key, an
 * indexed owner and six PII columns. One class per variant, built by `contactEntity()` so that
 * the variants differ only in how a PII column is declared. No blind indexes: the peer has none,
 * and they are a separate cost (one HMAC per indexed column on write).
 */
import {
  Column,
  ColumnOptions,
  Entity,
  Index,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  ValueTransformer,
} from 'typeorm';
import { EncryptedColumn } from '@vault-pii/nest-encryption';

export class BenchContact {
  declare id: string;
  declare ownerId: string;
  declare fullName: string;
  declare email: string | null;
  declare phone: string | null;
  declare address: string | null;
  declare notes: string | null;
  declare nationalId: string | null;
}

export type BenchContactClass = new () => BenchContact;

export const PII_COLUMNS = [
  'fullName',
  'email',
  'phone',
  'address',
  'notes',
  'nationalId',
] as const;

/** A `BenchContact` entity on `table` whose six PII columns are declared by `piiColumn`. */
function contactEntity(
  table: string,
  piiColumn: (nullable: boolean) => PropertyDecorator,
): BenchContactClass {
  const entity = class extends BenchContact {};
  Object.defineProperty(entity, 'name', { value: `BenchContact_${table}` });
  PrimaryGeneratedColumn('uuid')(entity.prototype, 'id');
  Column({ name: 'owner_id', type: 'uuid' })(entity.prototype, 'ownerId');
  for (const property of PII_COLUMNS)
    piiColumn(property !== 'fullName')(entity.prototype, property);
  Index(`idx_${table}_owner`, ['ownerId'])(entity);
  Entity({ name: table })(entity);
  return entity;
}

const textColumn =
  (extra: ColumnOptions = {}) =>
  (nullable: boolean) =>
    Column({ type: 'text', nullable, ...extra });

/** Plaintext twin: the same columns as `text`. */
export const PlainContact = contactEntity('bench_plain', textColumn());

/** Ours, XChaCha20-Poly1305 or AES-256-GCM: which one is its DataSource's (`installEncryptedColumns`). */
export const EncryptedContact = contactEntity('bench_ours', (nullable) =>
  EncryptedColumn({ nullable }),
);
export const EncryptedGcmContact = contactEntity('bench_ours_gcm', (nullable) =>
  EncryptedColumn({ nullable }),
);

/** The peer `typeorm-encrypted`: its transformer on a `text` column (it stores base64). */
export function peerContactEntity(
  transformer: ValueTransformer,
): BenchContactClass {
  return contactEntity('bench_peer', textColumn({ transformer }));
}

/** An owner's key version, as `user_data_keys` holds one (what `KeyVersionWriteGuard` locks). */
@Entity({ name: 'bench_data_keys' })
export class BenchDataKey {
  @PrimaryColumn({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @PrimaryColumn({ name: 'key_version', type: 'int' })
  keyVersion: number;
}
