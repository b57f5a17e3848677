import { createCipheriv, createDecipheriv } from 'node:crypto';
import sodium from 'sodium-native';
import { AeadAlgorithm, HEADER_BYTES, TAG_BYTES, open, seal } from './aead';
import { AuthenticationFailedError } from './errors';

/**
 * Published known-answer vectors. `seal()` draws random nonces, so the vectors are checked
 * twice: once against the primitive directly (proves sodium-native / node:crypto compute the
 * published bytes), and once through an envelope built by hand from the layout documented in
 * aead.ts (proves `open()` parses that layout and authenticates header ‖ AAD).
 */

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
/** `count` consecutive byte values starting at `first` (the RFC/draft vectors use such runs). */
const run = (first: number, count: number): Buffer =>
  Buffer.from(Array.from({ length: count }, (_, i) => (first + i) & 0xff));
const header = (algorithm: number, keyVersion: number): Buffer => {
  const bytes = Buffer.alloc(HEADER_BYTES);
  bytes[0] = 1;
  bytes[1] = algorithm;
  bytes.writeUInt32BE(keyVersion, 2);
  return bytes;
};

// draft-irtf-cfrg-xchacha-03, appendix A.3.1 (AEAD_XChaCha20_Poly1305).
const XCHACHA = {
  key: run(0x80, 32),
  nonce: run(0x40, 24),
  aad: hex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    'utf8',
  ),
  ciphertext: hex(`
    bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
    731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
    2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
    21f9664c97637da9768812f615c68b13b52e`),
  tag: hex('c0875924c1c7987947deafd8780acf49'),
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Test Case 16 (AES-256, 96-bit IV, AAD).
const GCM16 = {
  key: hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'),
  iv: hex('cafebabefacedbaddecaf888'),
  aad: hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'),
  plaintext: hex(`
    d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`),
  ciphertext: hex(`
    522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
    8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662`),
  tag: hex('76fc6ece0f4e1768cddf8853bb2d551b'),
};

function xchachaEncrypt(
  plaintext: Buffer,
  aad: Buffer,
  nonce: Buffer,
  key: Buffer,
): Buffer {
  const out = Buffer.alloc(
    plaintext.length + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES,
  );
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out,
    plaintext,
    aad,
    null,
    nonce,
    key,
  );
  return out;
}

function gcmEncrypt(
  plaintext: Buffer,
  aad: Buffer,
  iv: Buffer,
  key: Buffer,
): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

describe('XChaCha20-Poly1305 — draft-irtf-cfrg-xchacha §A.3.1', () => {
  it('sodium-native encrypts the published inputs to the published ciphertext and tag', () => {
    const out = xchachaEncrypt(
      XCHACHA.plaintext,
      XCHACHA.aad,
      XCHACHA.nonce,
      XCHACHA.key,
    );
    expect(out.toString('hex')).toBe(
      Buffer.concat([XCHACHA.ciphertext, XCHACHA.tag]).toString('hex'),
    );
  });

  it('sodium-native decrypts the published ciphertext back to the published plaintext', () => {
    const plaintext = Buffer.alloc(XCHACHA.plaintext.length);
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      plaintext,
      null,
      Buffer.concat([XCHACHA.ciphertext, XCHACHA.tag]),
      XCHACHA.aad,
      XCHACHA.nonce,
      XCHACHA.key,
    );
    expect(plaintext.equals(XCHACHA.plaintext)).toBe(true);
  });

  it('open() decrypts an envelope built by hand as header ‖ nonce ‖ ciphertext ‖ tag with AAD = header ‖ aad', () => {
    const head = header(AeadAlgorithm.XChaCha20Poly1305, 7);
    const body = xchachaEncrypt(
      XCHACHA.plaintext,
      Buffer.concat([head, XCHACHA.aad]),
      XCHACHA.nonce,
      XCHACHA.key,
    );
    const envelope = Buffer.concat([head, XCHACHA.nonce, body]);

    const keyForVersion = jest.fn((v: number) =>
      v === 7 ? XCHACHA.key : undefined,
    );
    expect(
      open(envelope, keyForVersion, XCHACHA.aad).equals(XCHACHA.plaintext),
    ).toBe(true);
    expect(keyForVersion).toHaveBeenCalledWith(7);
  });

  it('open() rejects the published ciphertext placed in an envelope, because the header is not in its AAD', () => {
    // The draft's ciphertext authenticates only `aad`; open() must insist on header ‖ aad.
    const envelope = Buffer.concat([
      header(AeadAlgorithm.XChaCha20Poly1305, 7),
      XCHACHA.nonce,
      XCHACHA.ciphertext,
      XCHACHA.tag,
    ]);
    expect(() => open(envelope, () => XCHACHA.key, XCHACHA.aad)).toThrow(
      AuthenticationFailedError,
    );
  });

  it.each([
    ['empty AAD', Buffer.alloc(0)],
    ['the draft AAD', XCHACHA.aad],
  ])(
    'seal() output follows the documented layout and decrypts with raw libsodium (%s)',
    (_label, aad) => {
      const envelope = seal(XCHACHA.plaintext, XCHACHA.key, {
        algorithm: AeadAlgorithm.XChaCha20Poly1305,
        keyVersion: 0xdeadbeef,
        aad,
      });
      const head = envelope.subarray(0, HEADER_BYTES);
      expect([...head]).toEqual([1, 1, 0xde, 0xad, 0xbe, 0xef]);
      const nonce = envelope.subarray(HEADER_BYTES, HEADER_BYTES + 24);
      const body = envelope.subarray(HEADER_BYTES + 24);
      expect(body.length).toBe(XCHACHA.plaintext.length + TAG_BYTES);

      const plaintext = Buffer.alloc(XCHACHA.plaintext.length);
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        plaintext,
        null,
        body,
        Buffer.concat([head, aad]),
        nonce,
        XCHACHA.key,
      );
      expect(plaintext.equals(XCHACHA.plaintext)).toBe(true);
    },
  );
});

describe('AES-256-GCM — McGrew & Viega GCM spec, Test Case 16', () => {
  it('node:crypto encrypts the published inputs to the published ciphertext and tag', () => {
    const { ciphertext, tag } = gcmEncrypt(
      GCM16.plaintext,
      GCM16.aad,
      GCM16.iv,
      GCM16.key,
    );
    expect(ciphertext.toString('hex')).toBe(GCM16.ciphertext.toString('hex'));
    expect(tag.toString('hex')).toBe(GCM16.tag.toString('hex'));
  });

  it('node:crypto decrypts the published ciphertext and tag back to the published plaintext', () => {
    const decipher = createDecipheriv('aes-256-gcm', GCM16.key, GCM16.iv, {
      authTagLength: 16,
    });
    decipher.setAAD(GCM16.aad);
    decipher.setAuthTag(GCM16.tag);
    const plaintext = Buffer.concat([
      decipher.update(GCM16.ciphertext),
      decipher.final(),
    ]);
    expect(plaintext.equals(GCM16.plaintext)).toBe(true);
  });

  it('open() decrypts an envelope built by hand as header ‖ iv ‖ ciphertext ‖ tag with AAD = header ‖ aad', () => {
    const head = header(AeadAlgorithm.Aes256Gcm, 0xffffffff);
    const { ciphertext, tag } = gcmEncrypt(
      GCM16.plaintext,
      Buffer.concat([head, GCM16.aad]),
      GCM16.iv,
      GCM16.key,
    );
    const envelope = Buffer.concat([head, GCM16.iv, ciphertext, tag]);

    const keyForVersion = jest.fn((v: number) =>
      v === 0xffffffff ? GCM16.key : undefined,
    );
    expect(
      open(envelope, keyForVersion, GCM16.aad).equals(GCM16.plaintext),
    ).toBe(true);
    expect(keyForVersion).toHaveBeenCalledWith(0xffffffff);
  });

  it('open() rejects the published ciphertext placed in an envelope, because the header is not in its AAD', () => {
    const envelope = Buffer.concat([
      header(AeadAlgorithm.Aes256Gcm, 1),
      GCM16.iv,
      GCM16.ciphertext,
      GCM16.tag,
    ]);
    expect(() => open(envelope, () => GCM16.key, GCM16.aad)).toThrow(
      AuthenticationFailedError,
    );
  });

  it('open() rejects a hand-built envelope whose GCM tag is truncated to 12 bytes', () => {
    // GCM permits short tags; the envelope does not. The last 16 bytes are always the tag, so a
    // 12-byte tag leaves the wrong bytes in the tag slot and authentication fails.
    const head = header(AeadAlgorithm.Aes256Gcm, 1);
    const { ciphertext, tag } = gcmEncrypt(
      GCM16.plaintext,
      Buffer.concat([head, GCM16.aad]),
      GCM16.iv,
      GCM16.key,
    );
    const envelope = Buffer.concat([
      head,
      GCM16.iv,
      ciphertext,
      tag.subarray(0, 12),
    ]);
    expect(() => open(envelope, () => GCM16.key, GCM16.aad)).toThrow(
      AuthenticationFailedError,
    );
  });

  it.each([
    ['empty AAD', Buffer.alloc(0)],
    ['the spec AAD', GCM16.aad],
  ])(
    'seal() output follows the documented layout and decrypts with raw node:crypto (%s)',
    (_label, aad) => {
      const envelope = seal(GCM16.plaintext, GCM16.key, {
        algorithm: AeadAlgorithm.Aes256Gcm,
        keyVersion: 0x01020304,
        aad,
      });
      const head = envelope.subarray(0, HEADER_BYTES);
      expect([...head]).toEqual([1, 2, 1, 2, 3, 4]);
      const iv = envelope.subarray(HEADER_BYTES, HEADER_BYTES + 12);
      const ciphertext = envelope.subarray(
        HEADER_BYTES + 12,
        envelope.length - TAG_BYTES,
      );
      expect(ciphertext.length).toBe(GCM16.plaintext.length);

      const decipher = createDecipheriv('aes-256-gcm', GCM16.key, iv, {
        authTagLength: 16,
      });
      decipher.setAAD(Buffer.concat([head, aad]));
      decipher.setAuthTag(envelope.subarray(envelope.length - TAG_BYTES));
      const plaintext = Buffer.concat([
        decipher.update(ciphertext),
        decipher.final(),
      ]);
      expect(plaintext.equals(GCM16.plaintext)).toBe(true);
    },
  );
});
