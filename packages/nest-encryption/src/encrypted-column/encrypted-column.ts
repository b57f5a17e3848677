import {
  Column,
  FindOperator,
  getMetadataArgsStorage,
  ValueTransformer,
} from 'typeorm';
import {
  AeadAlgorithm,
  CryptoError,
  openAndUse,
  PreparedAad,
  seal,
} from '../crypto';
import { KeyContext } from '../key-vault/key-context';
import {
  DataIntegrityError,
  EncryptedColumnQueryError,
  UnboundEncryptedColumnError,
} from './encrypted-column.errors';
import {
  decodeValue,
  EncryptedValueKind,
  encodeValue,
} from './encrypted-value-codec';
import type {
  EncryptedColumnCounters,
  EncryptedColumnsObserver,
} from './encrypted-columns.options';
import { EntityClass } from './encryption-owner';
import {
  isBuildingWhereClause,
  isComputingChanges,
  wipeAfterDiff,
} from './typeorm-adapter';

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
  /**
   * Reserved for reading legacy plaintext rows while a column is adopted into encryption; not
   * implemented yet, so `true` is refused when the entity is declared.
   */
  adoptPlaintext?: boolean;
}

/**
 * A `bytea` column whose value is encrypted with the current user's active data key (from
 * `KeyContext`) and decrypted with whichever key version its envelope names
 * (docs/design.md#encrypted-columns). The AAD binds table, column and owner, so a ciphertext moved
 * to another column or another user's row fails with `DataIntegrityError`. No keys in context:
 * `KeyUnavailableError`. Using the column in a find-options `where` throws
 * `EncryptedColumnQueryError` (query a `@BlindIndex` instead).
 *
 * The transformer TypeORM gets from here works only once `installEncryptedColumns()` (which
 * `EncryptedColumnsModule` runs) has bound each DataSource's copy of the column to that app's
 * options: `UnboundEncryptedColumnError` otherwise.
 *
 * ```ts
 * @EncryptedColumn() fullName: string | null;
 * @EncryptedColumn() dateOfBirth: Date | null;
 * ```
 */
export function EncryptedColumn(
  options: EncryptedColumnOptions = {},
): PropertyDecorator {
  return (target: object, propertyKey: string | symbol) => {
    const propertyName = String(propertyKey);
    if (options.adoptPlaintext)
      throw new Error(
        `${target.constructor.name}.${propertyName}: @EncryptedColumn({ adoptPlaintext: true }) is not implemented yet`,
      );
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

/** What a transformer bound to one DataSource encrypts with (from `EncryptedColumnsOptions`). */
export interface ColumnEncryption {
  /** AEAD for new ciphertexts; both algorithms always decrypt. */
  algorithm: AeadAlgorithm;
  observer?: EncryptedColumnsObserver;
}

const NOT_COUNTED: EncryptedColumnCounters = {
  encrypted() {},
  decrypted() {},
  integrityFailed() {},
};

/**
 * Exposed for tests and for the key-rotation job; entities only ever use the decorator. The
 * decorator's instance is unbound; `boundTo()` makes each DataSource's working copy.
 */
export class EncryptedValueTransformer implements ValueTransformer {
  private labelCache?: { table: string; column: string; prefix: Buffer };
  private aadCache?: { ownerId: string; aad: PreparedAad };
  private countersCache?: EncryptedColumnCounters;

  constructor(
    private readonly entity: EntityClass,
    private readonly propertyName: string,
    private readonly kind: EncryptedValueKind | undefined,
    private readonly aadLabel?: string,
    private readonly encryption?: ColumnEncryption,
  ) {}

  /** Whether this column also reads legacy plaintext (`adoptPlaintext`): never, so far. */
  get adoptsPlaintext(): boolean {
    return false;
  }

  /** This column's transformer, encrypting with `encryption`. */
  boundTo(encryption: ColumnEncryption): EncryptedValueTransformer {
    return new EncryptedValueTransformer(
      this.entity,
      this.propertyName,
      this.kind,
      this.aadLabel,
      { ...encryption },
    );
  }

  to(value: unknown): Buffer | null | undefined {
    if (value === null || value === undefined) return value;
    const { algorithm } = this.requireEncryption();
    if (value instanceof FindOperator || isBuildingWhereClause()) {
      const { table, column } = this.label();
      throw new EncryptedColumnQueryError(table, column);
    }
    // save() comparing the entity with the stored row: compare plaintexts (see typeorm-adapter.ts).
    if (isComputingChanges())
      return wipeAfterDiff(encodeValue(value, this.kind));
    const keyring = KeyContext.require();
    const plaintext = encodeValue(value, this.kind);
    try {
      const sealed = seal(plaintext, keyring.activeKey(), {
        algorithm,
        keyVersion: keyring.activeVersion,
        aad: this.aadFor(keyring.userId),
      });
      this.counters().encrypted();
      return sealed;
    } finally {
      // fill(0), not sodium_memzero: a JS fill is never elided either, at a third of the cost per value.
      plaintext.fill(0);
    }
  }

  from(stored: Buffer | null | undefined): unknown {
    if (stored === null || stored === undefined) return stored;
    this.requireEncryption();
    const keyring = KeyContext.require();
    try {
      const value = openAndUse(
        stored,
        (version) => keyring.key(version),
        this.aadFor(keyring.userId),
        decodeValue,
      );
      this.counters().decrypted();
      return value;
    } catch (error) {
      if (error instanceof CryptoError) {
        this.counters().integrityFailed();
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

  private counters(): EncryptedColumnCounters {
    if (!this.countersCache) {
      const { table, column } = this.label();
      this.countersCache =
        this.encryption?.observer?.column(table, column) ?? NOT_COUNTED;
    }
    return this.countersCache;
  }

  private requireEncryption(): ColumnEncryption {
    if (!this.encryption) {
      const { table, column } = this.label();
      throw new UnboundEncryptedColumnError(table, column);
    }
    return this.encryption;
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
