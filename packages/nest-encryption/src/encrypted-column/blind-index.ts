import {
  Column,
  EntitySubscriberInterface,
  getMetadataArgsStorage,
  InsertEvent,
  UpdateEvent,
} from 'typeorm';
import { computeBlindIndex, deriveBlindIndexKey } from '../crypto';
import { KeyContext } from '../key-vault/key-context';
import { EntityClass } from './encryption-owner';

export interface BlindIndexOptions {
  /** The (encrypted) property this index is computed from. */
  source: string;
  /** Canonical form before hashing, e.g. `emailIndexForm` (must be what searches use too). */
  normalize: (value: string) => string;
  /**
   * The form an earlier `normalize` gave `value`, for rows indexed before it changed: searches
   * (`BlindIndexes.for`) match it too, writes never use it. Remove it once no row holds it.
   */
  legacyNormalize?: (value: string) => string;
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

interface BlindIndexDefinition
  extends
    Required<Pick<BlindIndexOptions, 'source' | 'normalize' | 'keyedBy'>>,
    Pick<BlindIndexOptions, 'legacyNormalize'> {
  property: string;
  purpose: string;
}

const definitions = new Map<EntityClass, BlindIndexDefinition[]>();

/**
 * Companion `bytea` column holding HMAC-SHA256 of the normalised `source` value
 * (docs/design.md#blind-indexes), written automatically on insert and update by
 * `BlindIndexSubscriber`. Search with `BlindIndexes.for()`.
 *
 * ```ts
 * @EncryptedColumn() email: string | null;
 * @BlindIndex({ source: 'email', normalize: emailIndexForm }) emailIndex: Buffer | null;
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
      legacyNormalize: options.legacyNormalize,
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
 * Computes `@BlindIndex` values with one app's options (the server blind-index key): search
 * values for services, and the indexes `BlindIndexSubscriber` writes. `EncryptedColumnsModule`
 * exports the one bound to its DataSource.
 */
export class BlindIndexes {
  /** @param serverKey the server blind-index key (owned by the caller), if any index needs it. */
  constructor(private readonly serverKey: Buffer | undefined) {}

  /**
   * The index values to search `property` of `entity` for `value`: for an owner-keyed index, one
   * per data-key version the current keyring holds (so rows written before a key rotation still
   * match while the rotation runs); for a server-keyed index, one. Each is doubled when the index
   * has a `legacyNormalize` that gives `value` another form (rows indexed before it changed).
   * Use as `where: { emailIndex: In(blindIndexes.for(Contact, 'emailIndex', email)) }`.
   */
  for(entity: EntityClass, property: string, value: string): Buffer[] {
    const definition = definitionOf(entity, property);
    const normalized = definition.normalize(value);
    const legacy = definition.legacyNormalize?.(value);
    const forms =
      legacy === undefined || legacy === normalized
        ? [normalized]
        : [normalized, legacy];
    if (definition.keyedBy === 'server')
      return forms.map((form) =>
        computeBlindIndex(this.requireServerKey(), form),
      );
    const keyring = KeyContext.require();
    return keyring.versions.flatMap((version) =>
      forms.map((form) =>
        computeBlindIndex(ownerKey(entity, definition, version), form),
      ),
    );
  }

  /**
   * The index a write of `value` stores now (current form, the active key): what
   * `BlindIndexSubscriber` writes, for rewriting a row found through a legacy form.
   */
  forWriting(entity: EntityClass, property: string, value: string): Buffer {
    return this.indexToWrite(entity, definitionOf(entity, property), value);
  }

  /** Recomputes the indexes whose source is present on `values` (undefined = not being written). */
  fill(entity: EntityClass | string, values: Record<string, unknown>): void {
    if (typeof entity !== 'function') return;
    for (const definition of definitions.get(entity) ?? []) {
      const source = values[definition.source];
      if (source === undefined) continue;
      if (source === null) {
        values[definition.property] = null;
        continue;
      }
      values[definition.property] = this.indexToWrite(
        entity,
        definition,
        sourceText(source, entity, definition),
      );
    }
  }

  /** Fails at start-up, not at the first login, when an entity needs the server key and none was given. */
  assertKeysFor(entities: readonly EntityClass[]): void {
    if (this.serverKey) return;
    for (const entity of entities) {
      const server = definitions
        .get(entity)
        ?.find((definition) => definition.keyedBy === 'server');
      if (server)
        throw new Error(
          `${entity.name}.${server.property} is a server-keyed @BlindIndex, but no serverBlindIndexKey was given (EncryptedColumnsModule.forRoot)`,
        );
    }
  }

  private indexToWrite(
    entity: EntityClass,
    definition: BlindIndexDefinition,
    value: string,
  ): Buffer {
    const key =
      definition.keyedBy === 'server'
        ? this.requireServerKey()
        : ownerKey(entity, definition, KeyContext.require().activeVersion);
    return computeBlindIndex(key, definition.normalize(value));
  }

  private requireServerKey(): Buffer {
    if (!this.serverKey)
      throw new Error(
        'server blind-index key not configured (EncryptedColumnsModule.forRoot serverBlindIndexKey)',
      );
    return this.serverKey;
  }
}

/**
 * Writes every `@BlindIndex` of an entity from its source properties before insert and update.
 * Registered on a DataSource by `installEncryptedColumns()`, not listed in its options.
 */
export class BlindIndexSubscriber implements EntitySubscriberInterface {
  constructor(private readonly blindIndexes: BlindIndexes) {}

  beforeInsert(event: InsertEvent<Record<string, unknown>>): void {
    if (event.entity)
      this.blindIndexes.fill(event.metadata.target, event.entity);
  }

  beforeUpdate(event: UpdateEvent<Record<string, unknown>>): void {
    if (event.entity)
      this.blindIndexes.fill(event.metadata.target, event.entity);
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
