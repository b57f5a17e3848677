import { randomBytes } from 'node:crypto';
import { getMetadataArgsStorage } from 'typeorm';
import { AeadAlgorithm } from '../crypto';
import { KeyUnavailableError } from '../key-vault/key-vault.errors';
import { KeyContext } from '../key-vault/key-context';
import { Keyring } from '../key-vault/keyring';
import {
  AdoptingEncryptedValueTransformer,
  EncryptedColumn,
  EncryptedValueTransformer,
} from './encrypted-column';
import {
  DataIntegrityError,
  UnboundEncryptedColumnError,
} from './encrypted-column.errors';
import { encodeAdoptedPlaintext } from './encrypted-value-codec';
import { EncryptedColumnCounters } from './encrypted-columns.options';

class Legacy {
  @EncryptedColumn({ adoptPlaintext: true })
  note: string | null;

  @EncryptedColumn()
  current: string | null;
}

function declaredTransformer(
  target: object,
  property: string,
): EncryptedValueTransformer {
  const column = getMetadataArgsStorage().columns.find(
    (args) => args.target === target && args.propertyName === property,
  );
  return column?.options.transformer as EncryptedValueTransformer;
}

const OWNER = 'owner-1';
const key = randomBytes(32);

function withKeys<T>(work: () => T): Promise<T> {
  return KeyContext.runWithKeyring(
    new Keyring(OWNER, new Map([[1, Buffer.from(key)]]), 1),
    work,
  );
}

/** Each column's transformer bound as `installEncryptedColumns` binds it, counting calls. */
function bound(property: 'note' | 'current') {
  const calls: string[] = [];
  const counters: Required<EncryptedColumnCounters> = {
    encrypted: () => calls.push('encrypted'),
    decrypted: () => calls.push('decrypted'),
    integrityFailed: () => calls.push('integrityFailed'),
    plaintextRead: () => calls.push('plaintextRead'),
  };
  const transformer = declaredTransformer(Legacy, property).boundTo({
    algorithm: AeadAlgorithm.XChaCha20Poly1305,
    observer: { column: () => counters },
  });
  return { transformer, calls };
}

describe('@EncryptedColumn({ adoptPlaintext })', () => {
  it('declares an adopting column with its own transformer class, which stays adopting once bound', () => {
    const declared = declaredTransformer(Legacy, 'note');
    expect(declared).toBeInstanceOf(AdoptingEncryptedValueTransformer);
    expect(declared.adoptsPlaintext).toBe(true);
    const { transformer } = bound('note');
    expect(transformer).toBeInstanceOf(AdoptingEncryptedValueTransformer);
    expect(transformer.adoptsPlaintext).toBe(true);
  });

  it('declares an ordinary encrypted column otherwise, whose transformer adopts no plaintext', () => {
    class Current {
      @EncryptedColumn({ adoptPlaintext: false })
      note: string | null;
    }
    const transformer = declaredTransformer(Current, 'note');
    expect(transformer).toBeInstanceOf(EncryptedValueTransformer);
    expect(transformer).not.toBeInstanceOf(AdoptingEncryptedValueTransformer);
    expect(transformer.adoptsPlaintext).toBe(false);
    expect(bound('current').transformer.adoptsPlaintext).toBe(false);
  });
});

describe('AdoptingEncryptedValueTransformer', () => {
  it('reads a legacy plaintext value without any keys, and counts it as a plaintext read', () => {
    const { transformer, calls } = bound('note');
    expect(KeyContext.current()).toBeUndefined();
    expect(transformer.from(encodeAdoptedPlaintext('Zoë ☃'))).toBe('Zoë ☃');
    expect(transformer.from(encodeAdoptedPlaintext(''))).toBe('');
    const date = transformer.from(
      encodeAdoptedPlaintext(new Date('1990-05-17T00:00:00Z')),
    );
    expect(date).toEqual(new Date('1990-05-17T00:00:00Z'));
    expect(calls).toEqual(['plaintextRead', 'plaintextRead', 'plaintextRead']);
  });

  it('keeps NULL as null', () => {
    const { transformer, calls } = bound('note');
    expect(transformer.from(null)).toBeNull();
    expect(transformer.to(null)).toBeNull();
    expect(calls).toEqual([]);
  });

  it('always seals what it writes, and opens its own envelopes with the keys', async () => {
    const { transformer, calls } = bound('note');
    await withKeys(() => {
      const sealed = transformer.to('Ada') as Buffer;
      expect(sealed[0]).toBe(1);
      expect(sealed.includes(Buffer.from('Ada'))).toBe(false);
      expect(transformer.from(sealed)).toBe('Ada');
    });
    expect(calls).toEqual(['encrypted', 'decrypted']);
  });

  it('needs keys to write, as any encrypted column does', () => {
    expect(() => bound('note').transformer.to('Ada')).toThrow(
      KeyUnavailableError,
    );
  });

  it('needs keys to open an envelope, even while adopting', async () => {
    const { transformer } = bound('note');
    const sealed = await withKeys(() => transformer.to('Ada') as Buffer);
    expect(() => transformer.from(sealed)).toThrow(KeyUnavailableError);
  });

  it('refuses a malformed marked value with DataIntegrityError, naming no byte of it', () => {
    const { transformer, calls } = bound('note');
    const badJson = Buffer.concat([
      Buffer.from([0, 5]),
      Buffer.from('{"secret": "Ada'),
    ]);
    let thrown: unknown;
    try {
      transformer.from(badJson);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DataIntegrityError);
    expect(thrown).toMatchObject({
      table: 'Legacy',
      column: 'note',
      reason: 'MalformedAdoptedPlaintextError',
    });
    expect(JSON.stringify(thrown)).not.toContain('Ada');
    expect((thrown as Error).message).not.toContain('Ada');
    expect(() => transformer.from(Buffer.from([0, 2, 1]))).toThrow(
      DataIntegrityError,
    );
    expect(calls).toEqual(['integrityFailed', 'integrityFailed']);
  });

  it('is unusable unbound, like any encrypted column', () => {
    expect(() =>
      declaredTransformer(Legacy, 'note').from(encodeAdoptedPlaintext('x')),
    ).toThrow(UnboundEncryptedColumnError);
  });
});

describe('an ordinary encrypted column and a marked value', () => {
  it('refuses it with DataIntegrityError: only an adopting column reads plaintext', async () => {
    const { transformer, calls } = bound('current');
    await withKeys(() => {
      expect(() => transformer.from(encodeAdoptedPlaintext('Ada'))).toThrow(
        DataIntegrityError,
      );
    });
    expect(calls).toEqual(['integrityFailed']);
  });
});
