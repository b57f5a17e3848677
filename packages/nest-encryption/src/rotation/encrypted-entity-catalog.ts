import type { EntityMetadata } from 'typeorm';
import { blindIndexDefinitionsOf } from '../encrypted-column/blind-index';
import { EncryptedValueTransformer } from '../encrypted-column/encrypted-column';
import {
  EntityClass,
  encryptionOwnerProperty,
} from '../encrypted-column/encryption-owner';

export interface EncryptedColumnRef {
  propertyName: string;
  databaseName: string;
  transformer: EncryptedValueTransformer;
  /** The column also holds adopted plaintext (`transformer.adoptsPlaintext`): see `rotation-sql`. */
  adopting: boolean;
}

/** What key rotation needs to know about one entity that has `@EncryptedColumn`s. */
export interface EncryptedEntity {
  target: EntityClass;
  /** Entity name, for logs. */
  name: string;
  /** `schema.table` or `table`, unquoted parts. */
  tablePath: string[];
  primaryColumn: {
    propertyName: string;
    databaseName: string;
    sqlType: string;
  };
  /** The column holding the owner id bound into the AAD (see `@EncryptionOwner`). */
  ownerColumn: string;
  encryptedColumns: EncryptedColumnRef[];
  /** The `@BlindIndex`es computed from an encrypted column: rewritten with it (keyed by the DEK). */
  blindIndexes: { propertyName: string; databaseName: string }[];
}

export class EncryptedEntityDiscoveryError extends Error {}

/**
 * Every entity with at least one `@EncryptedColumn`, from TypeORM's metadata — not a hand-kept
 * list, so a new encrypted entity is rotated without further code. Throws (at start-up) when an
 * encrypted entity has no discoverable owner column or no single-column primary key.
 */
export function discoverEncryptedEntities(
  metadatas: readonly EntityMetadata[],
  normalizeType: (column: EntityMetadata['columns'][number]) => string,
): EncryptedEntity[] {
  const roots = metadatas.filter((metadata) => {
    const owner =
      typeof metadata.target === 'function'
        ? encryptionOwnerProperty(metadata.target)
        : undefined;
    return (
      owner !== undefined &&
      metadata.primaryColumns.some((column) => column.propertyName === owner)
    );
  });
  const entities: EncryptedEntity[] = [];
  for (const metadata of metadatas) {
    const encryptedColumns = metadata.columns.flatMap((column) => {
      const transformers = Array.isArray(column.transformer)
        ? column.transformer
        : column.transformer
          ? [column.transformer]
          : [];
      const transformer = transformers.find(
        (candidate) => candidate instanceof EncryptedValueTransformer,
      );
      return transformer
        ? [
            {
              propertyName: column.propertyName,
              databaseName: column.databaseName,
              transformer,
              adopting: transformer.adoptsPlaintext,
            },
          ]
        : [];
    });
    if (encryptedColumns.length === 0) continue;
    const name = metadata.name;
    if (typeof metadata.target !== 'function') {
      throw new EncryptedEntityDiscoveryError(
        `encrypted entity ${name} must be a class`,
      );
    }
    if (metadata.primaryColumns.length !== 1) {
      throw new EncryptedEntityDiscoveryError(
        `encrypted entity ${name} needs a single-column primary key for key rotation`,
      );
    }
    const [primary] = metadata.primaryColumns;
    entities.push({
      target: metadata.target,
      name,
      tablePath: metadata.tablePath.split('.'),
      primaryColumn: {
        propertyName: primary.propertyName,
        databaseName: primary.databaseName,
        sqlType: normalizeType(primary),
      },
      ownerColumn: ownerColumnOf(metadata, roots),
      encryptedColumns,
      blindIndexes: blindIndexesOf(metadata, encryptedColumns),
    });
  }
  return entities;
}

function blindIndexesOf(
  metadata: EntityMetadata,
  encryptedColumns: readonly EncryptedColumnRef[],
): EncryptedEntity['blindIndexes'] {
  const encrypted = new Set(
    encryptedColumns.map((column) => column.propertyName),
  );
  return blindIndexDefinitionsOf(metadata.target as EntityClass)
    .filter((definition) => encrypted.has(definition.source))
    .map(({ property }) => {
      const column = metadata.findColumnWithPropertyName(property);
      if (!column)
        throw new EncryptedEntityDiscoveryError(
          `blind index ${metadata.name}.${property} is not a column`,
        );
      return { propertyName: property, databaseName: column.databaseName };
    });
}

function ownerColumnOf(
  metadata: EntityMetadata,
  roots: readonly EntityMetadata[],
): string {
  const marked = encryptionOwnerProperty(metadata.target as EntityClass);
  if (marked) {
    const column = metadata.findColumnWithPropertyName(marked);
    if (!column)
      throw new EncryptedEntityDiscoveryError(
        `@EncryptionOwner on ${metadata.name}.${marked}, which is not a column`,
      );
    return column.databaseName;
  }
  if (roots.length === 0) {
    throw new EncryptedEntityDiscoveryError(
      'no entity marks its primary key @EncryptionOwner(): key rotation cannot find owners',
    );
  }
  const relations = metadata.relations.filter(
    (relation) =>
      (relation.isManyToOne || relation.isOneToOneOwner) &&
      roots.includes(relation.inverseEntityMetadata) &&
      relation.joinColumns.length === 1,
  );
  if (relations.length !== 1) {
    throw new EncryptedEntityDiscoveryError(
      `encrypted entity ${metadata.name} has ${relations.length === 0 ? 'no' : 'more than one'} relation to its owner: ` +
        'mark the owner column with @EncryptionOwner()',
    );
  }
  return relations[0].joinColumns[0].databaseName;
}
