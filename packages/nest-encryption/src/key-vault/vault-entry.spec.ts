import { randomBytes } from 'node:crypto';
import {
  AeadAlgorithm,
  AuthenticationFailedError,
  open,
  readEnvelopeHeader,
  seal,
} from '../crypto';
import { Keyring } from './keyring';
import { deriveSessionKey } from './session-key';
import {
  MAX_KEYRING_VERSIONS,
  openVaultEntry,
  sealedVaultEntryBytes,
  sealVaultEntry,
  VAULT_ENTRY_FORMAT_VERSION,
  VaultSession,
} from './vault-entry';

const vaultKey = randomBytes(32);
const session: VaultSession = {
  sessionId: 'sid-1',
  userId: 'user-1',
  clientShare: randomBytes(16),
};

function keyringOf(
  count: number,
  active = count,
): { keyring: Keyring; keys: Map<number, Buffer> } {
  const keys = new Map(
    Array.from(
      { length: count },
      (_, i) => [i + 1, randomBytes(32)] as [number, Buffer],
    ),
  );
  return {
    keyring: new Keyring(
      session.userId,
      new Map([...keys].map(([v, k]) => [v, Buffer.from(k)])),
      active,
    ),
    keys,
  };
}

describe('vault entry', () => {
  it('has the documented size: 88 bytes for one key version, +36 per further version', () => {
    expect(sealedVaultEntryBytes(1)).toBe(88);
    expect(sealedVaultEntryBytes(2)).toBe(124);
    for (const count of [1, 2, 5]) {
      expect(
        sealVaultEntry(keyringOf(count).keyring, session, vaultKey).length,
      ).toBe(sealedVaultEntryBytes(count));
    }
  });

  it('is an XChaCha20-Poly1305 envelope whose plaintext has the documented layout', () => {
    const { keyring, keys } = keyringOf(2, 1);
    const sealed = sealVaultEntry(keyring, session, vaultKey);
    expect(readEnvelopeHeader(sealed)).toEqual({
      formatVersion: 1,
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: VAULT_ENTRY_FORMAT_VERSION,
    });

    const sessionKey = deriveSessionKey(
      vaultKey,
      session.sessionId,
      session.clientShare,
    );
    const plaintext = open(
      sealed,
      () => sessionKey,
      Buffer.from('vault-entry\u0000sid-1\u0000user-1'),
    );
    expect(plaintext[0]).toBe(VAULT_ENTRY_FORMAT_VERSION);
    expect(plaintext[1]).toBe(2);
    expect(plaintext.readUInt32BE(2)).toBe(1);
    expect(plaintext.readUInt32BE(6)).toBe(1);
    expect(plaintext.subarray(10, 42).equals(keys.get(1)!)).toBe(true);
    expect(plaintext.readUInt32BE(42)).toBe(2);
    expect(plaintext.subarray(46, 78).equals(keys.get(2)!)).toBe(true);
  });

  it('opens into a keyring whose zero() clears every key', () => {
    const { keyring, keys } = keyringOf(3, 2);
    const opened = openVaultEntry(
      sealVaultEntry(keyring, session, vaultKey),
      session,
      vaultKey,
    );
    expect(opened.activeVersion).toBe(2);
    const held = opened.versions.map((version) => opened.key(version)!);
    expect(held.map((key) => key.toString('hex')).sort()).toEqual(
      [...keys.values()].map((k) => k.toString('hex')).sort(),
    );
    opened.zero();
    expect(held.every((key) => key.every((byte) => byte === 0))).toBe(true);
  });

  it('leaves the sealed keyring usable (it copies, never consumes)', () => {
    const { keyring, keys } = keyringOf(1);
    sealVaultEntry(keyring, session, vaultKey);
    expect(keyring.activeKey().equals(keys.get(1)!)).toBe(true);
  });

  it('is bound to the vault key, the client share, the session and the user', () => {
    const sealed = sealVaultEntry(keyringOf(1).keyring, session, vaultKey);
    for (const [vk, other] of [
      [randomBytes(32), session],
      [vaultKey, { ...session, clientShare: randomBytes(16) }],
      [vaultKey, { ...session, sessionId: 'sid-2' }],
      [vaultKey, { ...session, userId: 'user-2' }],
    ] as [Buffer, VaultSession][]) {
      expect(() => openVaultEntry(sealed, other, vk)).toThrow(
        AuthenticationFailedError,
      );
    }
  });

  it(`holds up to ${MAX_KEYRING_VERSIONS} key versions`, () => {
    expect(() =>
      sealVaultEntry(
        keyringOf(MAX_KEYRING_VERSIONS).keyring,
        session,
        vaultKey,
      ),
    ).not.toThrow();
    expect(() =>
      sealVaultEntry(
        keyringOf(MAX_KEYRING_VERSIONS + 1).keyring,
        session,
        vaultKey,
      ),
    ).toThrow(/at most/);
  });

  it('refuses a client share shorter than 16 bytes', () => {
    const short = { ...session, clientShare: randomBytes(15) };
    expect(() => sealVaultEntry(keyringOf(1).keyring, short, vaultKey)).toThrow(
      /client share/,
    );
  });

  it('rejects an authentic entry whose keyring layout it cannot read', () => {
    const sessionKey = deriveSessionKey(
      vaultKey,
      session.sessionId,
      session.clientShare,
    );
    const aad = Buffer.from('vault-entry\u0000sid-1\u0000user-1');
    const options = {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: VAULT_ENTRY_FORMAT_VERSION,
      aad,
    };
    const unknownFormat = Buffer.concat([
      Buffer.of(9, 1, 0, 0, 0, 1, 0, 0, 0, 1),
      randomBytes(32),
    ]);
    const wrongCount = Buffer.concat([
      Buffer.of(1, 2, 0, 0, 0, 1, 0, 0, 0, 1),
      randomBytes(32),
    ]);
    const noActiveKey = Buffer.concat([
      Buffer.of(1, 1, 0, 0, 0, 7, 0, 0, 0, 1),
      randomBytes(32),
    ]);
    for (const plaintext of [
      unknownFormat,
      wrongCount,
      noActiveKey,
      Buffer.alloc(0),
    ]) {
      expect(() =>
        openVaultEntry(seal(plaintext, sessionKey, options), session, vaultKey),
      ).toThrow();
    }
  });
});
