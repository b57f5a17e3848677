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
  decodeAdoptedPlaintext,
  decodeValue,
  EncryptedValueKind,
  encodeValue,
  isAdoptedPlaintext,
  MalformedAdoptedPlaintextError,
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
   * The column is being adopted from plaintext (docs/plaintext-adoption.md): besides envelopes it
   * reads legacy values stored as `0x00 ‖ value` (`plaintextAdoptionSql` converts a column to
   * that), without keys; writes are always encrypted. Unauthenticated while on: keep it short.
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
    const Transformer = options.adoptPlaintext
      ? AdoptingEncryptedValueTransformer
      : EncryptedValueTransformer;
    const transformer = new Transformer(
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

const NOT_COUNTED: Required<EncryptedColumnCounters> = {
  encrypted() {},
  decrypted() {},
  integrityFailed() {},
  plaintextRead() {},
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
    protected readonly entity: EntityClass,
    protected readonly propertyName: string,
    protected readonly kind: EncryptedValueKind | undefined,
    protected readonly aadLabel?: string,
    private readonly encryption?: ColumnEncryption,
  ) {}

  /**
   * Whether this column also reads legacy plaintext (`adoptPlaintext`); it does not, so a marked
   * value here fails like any other non-envelope, with `DataIntegrityError`.
   */
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

  protected counters(): EncryptedColumnCounters {
    if (!this.countersCache) {
      const { table, column } = this.label();
      this.countersCache =
        this.encryption?.observer?.column(table, column) ?? NOT_COUNTED;
    }
    return this.countersCache;
  }

  protected requireEncryption(): ColumnEncryption {
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

/**
 * The transformer of an `@EncryptedColumn({ adoptPlaintext: true })` (docs/plaintext-adoption.md):
 * a separate class, so ordinary columns keep their code path without a branch. `from()` returns a
 * marked legacy value without keys (counted as `plaintextRead`) and opens envelopes as usual;
 * `to()` is inherited, so every write is sealed and needs keys.
 */
export class AdoptingEncryptedValueTransformer extends EncryptedValueTransformer {
  override get adoptsPlaintext(): boolean {
    return true;
  }

  override boundTo(
    encryption: ColumnEncryption,
  ): AdoptingEncryptedValueTransformer {
    return new AdoptingEncryptedValueTransformer(
      this.entity,
      this.propertyName,
      this.kind,
      this.aadLabel,
      { ...encryption },
    );
  }

  override from(stored: Buffer | null | undefined): unknown {
    if (stored === null || stored === undefined || !isAdoptedPlaintext(stored))
      return super.from(stored);
    this.requireEncryption();
    const counters = this.counters();
    let value: unknown;
    try {
      value = decodeAdoptedPlaintext(stored);
    } catch (error) {
      if (!(error instanceof MalformedAdoptedPlaintextError)) throw error;
      counters.integrityFailed();
      const { table, column } = this.label();
      throw new DataIntegrityError(table, column, error.name);
    }
    counters.plaintextRead?.();
    return value;
  }
}

function splitLabel(label: string): [string, string] {
  const dot = label.lastIndexOf('.');
  if (dot <= 0 || dot === label.length - 1)
    throw new Error(`aadLabel must look like "table.column" (got "${label}")`);
  return [label.slice(0, dot), label.slice(dot + 1)];
}
