import {
  Column,
  EntitySubscriberInterface,
  EventSubscriber,
  getMetadataArgsStorage,
  InsertEvent,
  UpdateEvent,
} from 'typeorm';
import { computeBlindIndex, deriveBlindIndexKey } from '../crypto/blind-index';
import { KeyContext } from '../key-vault/key-context';
import { EntityClass } from './encryption-owner';
import { encryptionSettings } from './encryption-settings';

export interface BlindIndexOptions {
  /** The (encrypted) property this index is computed from. */
  source: string;
  /** Canonical form before hashing, e.g. `normalizeEmail` (must be what searches use too). */
  normalize: (value: string) => string;
  /**
   * `owner` (default): HMAC key derived from the owner's data key, so equal values of two users
   * do not match. `server`: the server's blind-index key, for values that must be unique across
   * users and be found before any user key is known (the login email).
   */
  keyedBy?: 'owner' | 'server';
  /** Database column name. */
  name?: string;
  /** Adds a unique constraint (server-keyed indexes only make sense here). */
  unique?: boolean;
}

interface BlindIndexDefinition extends Required<
  Pick<BlindIndexOptions, 'source' | 'normalize' | 'keyedBy'>
> {
  property: string;
  purpose: string;
}

const definitions = new Map<EntityClass, BlindIndexDefinition[]>();

/**
 * Companion `bytea` column holding HMAC-SHA256 of the normalised `source` value (SPEC §3),
 * written automatically on insert and update by `BlindIndexSubscriber`. Search with
 * `blindIndexesFor()`.
 *
 * ```ts
 * @EncryptedColumn() email: string | null;
 * @BlindIndex({ source: 'email', normalize: normalizeEmail }) emailIndex: Buffer | null;
 * ```
 */
export function BlindIndex(options: BlindIndexOptions): PropertyDecorator {
  return (target: object, propertyKey: string | symbol) => {
    const property = String(propertyKey);
    const list = definitions.get(target.constructor) ?? [];
    list.push({
      property,
      source: options.source,
      normalize: options.normalize,
      keyedBy: options.keyedBy ?? 'owner',
      purpose: '', // resolved lazily: the table name is known only once @Entity has run
    });
    definitions.set(target.constructor, list);
    Column({
      type: 'bytea',
      name: options.name,
      nullable: true,
      unique: options.unique,
      select: true,
    })(target, propertyKey);
  };
}

/**
 * The index values to search `property` of `entity` for `value`: for an owner-keyed index, one
 * per data-key version the current keyring holds (so rows written before a key rotation still
 * match while the rotation runs); for a server-keyed index, exactly one.
 * Use as `where: { emailIndex: In(blindIndexesFor(Contact, 'emailIndex', email)) }`.
 */
export function blindIndexesFor(
  entity: EntityClass,
  property: string,
  value: string,
): Buffer[] {
  const definition = definitionOf(entity, property);
  const normalized = definition.normalize(value);
  if (definition.keyedBy === 'server')
    return [computeBlindIndex(serverKey(), normalized)];
  const keyring = KeyContext.require();
  return keyring.versions.map((version) =>
    computeBlindIndex(ownerKey(entity, definition, version), normalized),
  );
}

/** Writes every `@BlindIndex` of an entity from its source properties before insert and update. */
@EventSubscriber()
export class BlindIndexSubscriber implements EntitySubscriberInterface {
  beforeInsert(event: InsertEvent<Record<string, unknown>>): void {
    if (event.entity) fillBlindIndexes(event.metadata.target, event.entity);
  }

  beforeUpdate(event: UpdateEvent<Record<string, unknown>>): void {
    if (event.entity) fillBlindIndexes(event.metadata.target, event.entity);
  }
}

/** Recomputes the indexes whose source is present on `entity` (undefined = not being written). */
export function fillBlindIndexes(
  entity: EntityClass | string,
  values: Record<string, unknown>,
): void {
  if (typeof entity !== 'function') return;
  for (const definition of definitions.get(entity) ?? []) {
    const source = values[definition.source];
    if (source === undefined) continue;
    if (source === null) {
      values[definition.property] = null;
      continue;
    }
    const normalized = definition.normalize(
      sourceText(source, entity, definition),
    );
    const key =
      definition.keyedBy === 'server'
        ? serverKey()
        : ownerKey(entity, definition, KeyContext.require().activeVersion);
    values[definition.property] = computeBlindIndex(key, normalized);
  }
}

/** A source value as text: a primitive's or a Date's own string form. Any other object has none worth indexing. */
function sourceText(
  source: unknown,
  entity: EntityClass,
  definition: BlindIndexDefinition,
): string {
  if (typeof source === 'string') return source;
  if (
    typeof source === 'number' ||
    typeof source === 'boolean' ||
    typeof source === 'bigint' ||
    source instanceof Date
  )
    return String(source);
  throw new Error(
    `${entity.name}.${definition.source}, the source of @BlindIndex ${definition.property}, holds no string`,
  );
}

function ownerKey(
  entity: EntityClass,
  definition: BlindIndexDefinition,
  version: number,
): Buffer {
  const keyring = KeyContext.require();
  if (!definition.purpose) {
    const table =
      getMetadataArgsStorage().tables.find((t) => t.target === entity)?.name ??
      entity.name;
    definition.purpose = `${table}.${definition.property}`;
  }
  const key = keyring.derivedKey(
    version,
    `blind-index/${definition.purpose}`,
    (dataKey) => deriveBlindIndexKey(dataKey, definition.purpose),
  );
  if (!key) throw new Error(`keyring holds no key version ${version}`);
  return key;
}

function serverKey(): Buffer {
  const key = encryptionSettings().serverBlindIndexKey;
  if (!key)
    throw new Error(
      'server blind-index key not configured (EncryptedColumnsModule.forRoot)',
    );
  return key;
}

function definitionOf(
  entity: EntityClass,
  property: string,
): BlindIndexDefinition {
  const definition = definitions
    .get(entity)
    ?.find((d) => d.property === property);
  if (!definition)
    throw new Error(`${entity.name}.${property} is not a @BlindIndex`);
  return definition;
}

/**
 * The `@BlindIndex`es of `entity`: the property each fills, its source property and how it is
 * keyed. Key rotation rewrites them with the ciphertexts, since owner-keyed ones follow the DEK.
 */
export function blindIndexDefinitionsOf(
  entity: EntityClass,
): { property: string; source: string; keyedBy: 'owner' | 'server' }[] {
  return (definitions.get(entity) ?? []).map(
    ({ property, source, keyedBy }) => ({ property, source, keyedBy }),
  );
}
