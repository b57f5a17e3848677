import {
  Column,
  FindOperator,
  getMetadataArgsStorage,
  ValueTransformer,
} from 'typeorm';
import { openAndUse, PreparedAad, seal } from '../crypto/aead';
import { CryptoError } from '../crypto/errors';
import { KeyContext } from '../key-vault/key-context';
import {
  installChangeDetection,
  isComputingChanges,
  wipeAfterDiff,
} from './change-detection';
import {
  DataIntegrityError,
  EncryptedColumnQueryError,
} from './encrypted-column.errors';
import {
  decodeValue,
  EncryptedValueKind,
  encodeValue,
} from './encrypted-value-codec';
import { EntityClass } from './encryption-owner';
import { encryptionSettings } from './encryption-settings';
import {
  installWhereClauseGuard,
  isBuildingWhereClause,
} from './where-clause-guard';

export interface EncryptedColumnOptions {
  /**
   * Value kind. By default it follows the value written (string, number, boolean, Date, else
   * JSON) and is stored in the ciphertext, so reads return what was written.
   */
  type?: EncryptedValueKind;
  /** Database column name (defaults to TypeORM's naming strategy). */
  name?: string;
  /** Defaults to true: PII fields are usually optional. `null` is stored as NULL, unencrypted. */
  nullable?: boolean;
  /**
   * The `table.column` label bound into every ciphertext's AAD. Defaults to the entity's table
   * name and the property name; pin it when renaming either, or old ciphertexts stop opening.
   */
  aadLabel?: string;
}

/**
 * A `bytea` column whose value is encrypted with the current user's active data key (from
 * `KeyContext`) and decrypted with whichever key version its envelope names (SPEC §3). The AAD
 * binds table, column and owner, so a ciphertext moved to another column or another user's row
 * fails with `DataIntegrityError`. No keys in context: `KeyUnavailableError`. Using the column in
 * a find-options `where` throws `EncryptedColumnQueryError` (query a `@BlindIndex` instead).
 *
 * ```ts
 * @EncryptedColumn() fullName: string | null;
 * @EncryptedColumn() dateOfBirth: Date | null;
 * ```
 */
export function EncryptedColumn(
  options: EncryptedColumnOptions = {},
): PropertyDecorator {
  installWhereClauseGuard();
  installChangeDetection();
  return (target: object, propertyKey: string | symbol) => {
    const propertyName = String(propertyKey);
    const transformer = new EncryptedValueTransformer(
      target.constructor,
      propertyName,
      options.type,
      options.aadLabel,
    );
    Column({
      type: 'bytea',
      name: options.name,
      nullable: options.nullable ?? true,
      transformer,
    })(target, propertyKey);
  };
}

/** Exposed for tests and for the key-rotation job; entities only ever use the decorator. */
export class EncryptedValueTransformer implements ValueTransformer {
  private labelCache?: { table: string; column: string; prefix: Buffer };
  private aadCache?: { ownerId: string; aad: PreparedAad };

  constructor(
    private readonly entity: EntityClass,
    private readonly propertyName: string,
    private readonly kind: EncryptedValueKind | undefined,
    private readonly aadLabel?: string,
  ) {}

  to(value: unknown): Buffer | null | undefined {
    if (value === null || value === undefined) return value;
    if (value instanceof FindOperator || isBuildingWhereClause()) {
      const { table, column } = this.label();
      throw new EncryptedColumnQueryError(table, column);
    }
    // save() comparing the entity with the stored row: compare plaintexts (see change-detection.ts).
    if (isComputingChanges())
      return wipeAfterDiff(encodeValue(value, this.kind));
    const keyring = KeyContext.require();
    const plaintext = encodeValue(value, this.kind);
    try {
      return seal(plaintext, keyring.activeKey(), {
        algorithm: encryptionSettings().algorithm,
        keyVersion: keyring.activeVersion,
        aad: this.aadFor(keyring.userId),
      });
    } finally {
      // fill(0), not sodium_memzero: a JS fill is never elided either, at a third of the cost per value.
      plaintext.fill(0);
    }
  }

  from(stored: Buffer | null | undefined): unknown {
    if (stored === null || stored === undefined) return stored;
    const keyring = KeyContext.require();
    try {
      return openAndUse(
        stored,
        (version) => keyring.key(version),
        this.aadFor(keyring.userId),
        decodeValue,
      );
    } catch (error) {
      if (error instanceof CryptoError) {
        const { table, column } = this.label();
        throw new DataIntegrityError(table, column, error.name);
      }
      throw error;
    }
  }

  /** `table.column` as bound into the AAD (see `EncryptedColumnOptions.aadLabel`). */
  label(): { table: string; column: string; prefix: Buffer } {
    if (!this.labelCache) {
      const tableArgs = getMetadataArgsStorage().tables.find(
        (table) => table.target === this.entity,
      );
      const [table, column] = this.aadLabel
        ? splitLabel(this.aadLabel)
        : [tableArgs?.name ?? this.entity.name, this.propertyName];
      this.labelCache = {
        table,
        column,
        prefix: Buffer.from(
          `enc-col\u0000${table}\u0000${column}\u0000`,
          'utf8',
        ),
      };
    }
    return this.labelCache;
  }

  /** AAD = label ‖ owner id; the last one is kept because a request encrypts for one owner. */
  private aadFor(ownerId: string): PreparedAad {
    if (this.aadCache?.ownerId !== ownerId) {
      const { prefix } = this.label();
      this.aadCache = {
        ownerId,
        aad: new PreparedAad(
          Buffer.concat([prefix, Buffer.from(ownerId, 'utf8')]),
        ),
      };
    }
    return this.aadCache.aad;
  }
}

function splitLabel(label: string): [string, string] {
  const dot = label.lastIndexOf('.');
  if (dot <= 0 || dot === label.length - 1)
    throw new Error(`aadLabel must look like "table.column" (got "${label}")`);
  return [label.slice(0, dot), label.slice(dot + 1)];
}
