import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Entity, PrimaryGeneratedColumn } from 'typeorm';
import {
  AeadAlgorithm,
  generateDataKey,
  open,
  unwrapDataKey,
  wrapDataKey,
} from './crypto';
import { BlindIndex, BlindIndexes } from './encrypted-column/blind-index';
import {
  EncryptedColumn,
  EncryptedValueTransformer,
} from './encrypted-column/encrypted-column';
import { decodeValue } from './encrypted-column/encrypted-value-codec';
import { KeyContext } from './key-vault/key-context';
import { Keyring } from './key-vault/keyring';
import { deriveSessionKey } from './key-vault/session-key';
import { sealVaultEntry } from './key-vault/vault-entry';

/**
 * The labels bound into every stored ciphertext, wrapped key and vault entry, written out here by
 * hand: changing one in the code would leave every existing value unopenable, so it must fail a
 * test first. (The HKDF prefix "vault-pii/v1/" and the blind-index key's info are pinned in
 * crypto/kdf.spec.ts and crypto/blind-index.spec.ts.)
 */
const hkdf = (ikm: Buffer, salt: Buffer, info: string) =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));

@Entity({ name: 'wire_notes' })
class WireNote {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @EncryptedColumn()
  body: string | null;

  @BlindIndex({ source: 'body', normalize: (value) => value.trim() })
  bodyIndex: Buffer | null;
}

describe('wire-format labels', () => {
  const userId = '0b7c4bd4-33f5-4b1c-9a52-5d6a2f0e6a11';
  const dataKey = generateDataKey();
  const keyring = () =>
    new Keyring(userId, new Map([[1, Buffer.from(dataKey)]]), 1);

  it('a session key is HKDF(vault key, salt = client share, info = "vault-pii/v1/vault/session/<session id>")', () => {
    const vaultKey = randomBytes(32);
    const clientShare = randomBytes(16);
    expect(
      deriveSessionKey(vaultKey, 'session-1', clientShare).equals(
        hkdf(vaultKey, clientShare, 'vault-pii/v1/vault/session/session-1'),
      ),
    ).toBe(true);
  });

  it('a vault entry is sealed under the session key with AAD "vault-entry" 0 session id 0 user id', () => {
    const vaultKey = randomBytes(32);
    const session = {
      sessionId: 'session-1',
      userId,
      clientShare: randomBytes(16),
    };
    const sealed = sealVaultEntry(keyring(), session, vaultKey);
    const sessionKey = hkdf(
      vaultKey,
      session.clientShare,
      'vault-pii/v1/vault/session/session-1',
    );
    const opened = open(
      sealed,
      () => sessionKey,
      Buffer.from(`vault-entry\u0000session-1\u0000${userId}`, 'utf8'),
    );
    expect(opened.subarray(6, 10).readUInt32BE(0)).toBe(1);
    expect(opened.subarray(10, 42).equals(dataKey)).toBe(true);
  });

  it('a wrapped data key has AAD "dek-wrap" 0 wrapped-by 0 user id 0 key version', () => {
    const kek = randomBytes(32);
    const context = { userId, keyVersion: 3, wrappedBy: 'recovery' as const };
    const wrapped = wrapDataKey(dataKey, kek, context);
    const opened = open(
      wrapped,
      () => kek,
      Buffer.from(`dek-wrap\u0000recovery\u0000${userId}\u00003`, 'utf8'),
    );
    expect(opened.equals(dataKey)).toBe(true);
    expect(unwrapDataKey(wrapped, kek, context).equals(dataKey)).toBe(true);
  });

  it('an encrypted column value has AAD "enc-col" 0 table 0 column 0 owner id', async () => {
    const transformer = new EncryptedValueTransformer(
      WireNote,
      'body',
      undefined,
    ).boundTo({ algorithm: AeadAlgorithm.XChaCha20Poly1305 });
    const sealed = await KeyContext.runWithKeyring(keyring(), () =>
      transformer.to('hello'),
    );
    const opened = open(
      sealed as Buffer,
      () => dataKey,
      Buffer.from(`enc-col\u0000wire_notes\u0000body\u0000${userId}`, 'utf8'),
    );
    expect(decodeValue(opened)).toBe('hello');
  });

  it('a @BlindIndex is keyed by HKDF(data key, "vault-pii/v1/blind-index/<table>.<property>")', async () => {
    const [index] = await KeyContext.runWithKeyring(keyring(), () =>
      new BlindIndexes(undefined).for(WireNote, 'bodyIndex', ' hello '),
    );
    const key = hkdf(
      dataKey,
      Buffer.alloc(0),
      'vault-pii/v1/blind-index/wire_notes.bodyIndex',
    );
    expect(
      index.equals(createHmac('sha256', key).update('hello', 'utf8').digest()),
    ).toBe(true);
  });
});
