import type { ObjectType } from 'typeorm';

/** An entity class, as TypeORM types one (`EntityMetadata.target`, a decorator's `target.constructor`). */
export type EntityClass = ObjectType<unknown>;

const ownerProperties = new Map<EntityClass, string>();

/**
 * Marks the column that names whose data key encrypts a row's `@EncryptedColumn`s — the owner id
 * bound into every ciphertext's AAD. Key rotation finds a user's rows through it.
 *
 * Put it on the owner entity's own primary key (`User.id`) and, where the convention below does
 * not apply, on an encrypted entity's owner column. By convention an encrypted entity without it
 * is owned through its one `@ManyToOne`/`@OneToOne` join column to the owner entity (e.g.
 * `Contact.ownerId`); none, or two such relations, stops start-up with an error.
 *
 * ```ts
 * @PrimaryGeneratedColumn('uuid') @EncryptionOwner() id: string;
 * ```
 */
export function EncryptionOwner(): PropertyDecorator {
  return (target: object, propertyKey: string | symbol) => {
    const existing = ownerProperties.get(target.constructor);
    if (existing && existing !== String(propertyKey)) {
      throw new Error(
        `${target.constructor.name} has two @EncryptionOwner columns (${existing}, ${String(propertyKey)})`,
      );
    }
    ownerProperties.set(target.constructor, String(propertyKey));
  };
}

/** The property marked `@EncryptionOwner()` on `entity` (or a parent class), if any. */
export function encryptionOwnerProperty(
  entity: EntityClass,
): string | undefined {
  for (
    let current: unknown = entity;
    typeof current === 'function' && current !== Function.prototype;
    current = Object.getPrototypeOf(current)
  ) {
    const property = ownerProperties.get(current);
    if (property) return property;
  }
  return undefined;
}
