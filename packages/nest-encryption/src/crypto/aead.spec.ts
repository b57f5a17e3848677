import fc from 'fast-check';
import {
  AEAD_KEY_BYTES,
  AeadAlgorithm,
  ENVELOPE_FORMAT_VERSION,
  HEADER_BYTES,
  TAG_BYTES,
  open,
  openAndUse,
  PreparedAad,
  readEnvelopeHeader,
  seal,
} from './aead';
import {
  AuthenticationFailedError,
  CryptoError,
  InvalidCryptoInputError,
  TruncatedEnvelopeError,
  UnknownKeyVersionError,
  UnsupportedEnvelopeError,
} from './errors';

type ErrorClass = new (...args: never[]) => Error;

const ALGORITHMS = [
  {
    name: 'XChaCha20-Poly1305',
    algorithm: AeadAlgorithm.XChaCha20Poly1305,
    nonceBytes: 24,
  },
  { name: 'AES-256-GCM', algorithm: AeadAlgorithm.Aes256Gcm, nonceBytes: 12 },
] as const;

const KEY = Buffer.from(
  Array.from({ length: AEAD_KEY_BYTES }, (_, i) => i * 7 + 1),
);
const OTHER_KEY = Buffer.from(
  Array.from({ length: AEAD_KEY_BYTES }, (_, i) => 255 - i),
);
const AAD = Buffer.from('contacts.email\u0000user-42', 'utf8');
const PLAINTEXT = Buffer.from('alice@example.com, +1 555 010 9999', 'utf8');
const KEY_VERSION = 0x01020304;

/** Runs `fn` and returns the class name of what it threw, or 'no error'. */
function thrownName(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return error instanceof Error ? error.constructor.name : typeof error;
  }
  return 'no error';
}

function flipBit(buffer: Buffer, bit: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

describe.each(ALGORITHMS)(
  'AEAD envelope with $name',
  ({ algorithm, nonceBytes }) => {
    const minimumLength = HEADER_BYTES + nonceBytes + TAG_BYTES;
    const sameKeyForAnyVersion = (): Buffer => KEY;
    const onlyTheSealingVersion = (v: number): Buffer | undefined =>
      v === KEY_VERSION ? KEY : undefined;
    let envelope: Buffer;

    beforeAll(() => {
      envelope = seal(PLAINTEXT, KEY, {
        algorithm,
        keyVersion: KEY_VERSION,
        aad: AAD,
      });
    });

    describe('layout and round trip', () => {
      it('has the documented length and header', () => {
        expect(envelope.length).toBe(
          HEADER_BYTES + nonceBytes + PLAINTEXT.length + TAG_BYTES,
        );
        expect([...envelope.subarray(0, HEADER_BYTES)]).toEqual([
          ENVELOPE_FORMAT_VERSION,
          algorithm,
          1,
          2,
          3,
          4,
        ]);
        expect(readEnvelopeHeader(envelope)).toEqual({
          formatVersion: ENVELOPE_FORMAT_VERSION,
          algorithm,
          keyVersion: KEY_VERSION,
        });
      });

      it('opens with the right key and AAD, asking keyForVersion for the header key version', () => {
        const keyForVersion = jest.fn(onlyTheSealingVersion);
        expect(open(envelope, keyForVersion, AAD).equals(PLAINTEXT)).toBe(true);
        expect(keyForVersion).toHaveBeenCalledTimes(1);
        expect(keyForVersion).toHaveBeenCalledWith(KEY_VERSION);
      });

      it('does not leak the plaintext into the envelope and leaves the inputs untouched', () => {
        const plaintextCopy = Buffer.from(PLAINTEXT);
        const aadCopy = Buffer.from(AAD);
        const sealed = seal(PLAINTEXT, KEY, {
          algorithm,
          keyVersion: 1,
          aad: AAD,
        });
        expect(sealed.includes(PLAINTEXT)).toBe(false);
        expect(PLAINTEXT.equals(plaintextCopy)).toBe(true);
        expect(AAD.equals(aadCopy)).toBe(true);
      });

      it.each([0, 1, 0xffffffff])(
        'round-trips key version %d (the 32-bit range boundaries)',
        (keyVersion) => {
          const sealed = seal(PLAINTEXT, KEY, {
            algorithm,
            keyVersion,
            aad: AAD,
          });
          expect(readEnvelopeHeader(sealed).keyVersion).toBe(keyVersion);
          expect(
            open(
              sealed,
              (v) => (v === keyVersion ? KEY : undefined),
              AAD,
            ).equals(PLAINTEXT),
          ).toBe(true);
        },
      );

      it('round-trips an empty plaintext as an envelope of exactly the minimum length', () => {
        const sealed = seal(Buffer.alloc(0), KEY, {
          algorithm,
          keyVersion: 3,
          aad: AAD,
        });
        expect(sealed.length).toBe(minimumLength);
        expect(open(sealed, () => KEY, AAD).length).toBe(0);
      });
    });

    describe('every single-bit flip is rejected (Wycheproof style)', () => {
      /**
       * Flips each bit of [start, end) and returns the flips whose outcome differs from `expected`,
       * so a failure lists exactly which bits slipped through.
       */
      function mismatches(
        start: number,
        end: number,
        expected: ErrorClass,
        keyForVersion: (v: number) => Buffer | undefined = sameKeyForAnyVersion,
      ): { bit: number; threw: string }[] {
        const wrong: { bit: number; threw: string }[] = [];
        for (let bit = start * 8; bit < end * 8; bit++) {
          const tampered = flipBit(envelope, bit);
          const threw = thrownName(() => open(tampered, keyForVersion, AAD));
          if (threw !== expected.name) wrong.push({ bit, threw });
        }
        return wrong;
      }

      it('format version byte → UnsupportedEnvelopeError', () => {
        expect(mismatches(0, 1, UnsupportedEnvelopeError)).toEqual([]);
      });

      it('algorithm id byte → UnsupportedEnvelopeError (no single flip turns 1 into 2 or back)', () => {
        expect(mismatches(1, 2, UnsupportedEnvelopeError)).toEqual([]);
      });

      it('key version bytes → AuthenticationFailedError even when every version maps to the same key', () => {
        expect(mismatches(2, HEADER_BYTES, AuthenticationFailedError)).toEqual(
          [],
        );
      });

      it('key version bytes → UnknownKeyVersionError when only the sealing version is held', () => {
        expect(
          mismatches(
            2,
            HEADER_BYTES,
            UnknownKeyVersionError,
            onlyTheSealingVersion,
          ),
        ).toEqual([]);
      });

      it('nonce → AuthenticationFailedError', () => {
        expect(
          mismatches(
            HEADER_BYTES,
            HEADER_BYTES + nonceBytes,
            AuthenticationFailedError,
          ),
        ).toEqual([]);
      });

      it('ciphertext → AuthenticationFailedError', () => {
        const start = HEADER_BYTES + nonceBytes;
        expect(
          mismatches(
            start,
            envelope.length - TAG_BYTES,
            AuthenticationFailedError,
          ),
        ).toEqual([]);
      });

      it('tag → AuthenticationFailedError', () => {
        expect(
          mismatches(
            envelope.length - TAG_BYTES,
            envelope.length,
            AuthenticationFailedError,
          ),
        ).toEqual([]);
      });

      it('associated data → AuthenticationFailedError', () => {
        const wrong: { bit: number; threw: string }[] = [];
        for (let bit = 0; bit < AAD.length * 8; bit++) {
          const threw = thrownName(() =>
            open(envelope, sameKeyForAnyVersion, flipBit(AAD, bit)),
          );
          if (threw !== AuthenticationFailedError.name)
            wrong.push({ bit, threw });
        }
        expect(wrong).toEqual([]);
      });
    });

    describe('other tampering and misuse', () => {
      it('rewriting the key version fails authentication even when the caller returns the same key', () => {
        for (const keyVersion of [0, KEY_VERSION + 1, 0xffffffff]) {
          const tampered = Buffer.from(envelope);
          tampered.writeUInt32BE(keyVersion, 2);
          expect(() => open(tampered, sameKeyForAnyVersion, AAD)).toThrow(
            AuthenticationFailedError,
          );
        }
      });

      it('relabelling the envelope as the other supported algorithm fails authentication', () => {
        const tampered = Buffer.from(envelope);
        tampered[1] =
          algorithm === AeadAlgorithm.XChaCha20Poly1305
            ? AeadAlgorithm.Aes256Gcm
            : AeadAlgorithm.XChaCha20Poly1305;
        expect(() => open(tampered, sameKeyForAnyVersion, AAD)).toThrow(
          AuthenticationFailedError,
        );
      });

      it('a wrong key fails authentication', () => {
        expect(() => open(envelope, () => OTHER_KEY, AAD)).toThrow(
          AuthenticationFailedError,
        );
      });

      it('a missing or extra AAD fails authentication', () => {
        expect(() =>
          open(envelope, sameKeyForAnyVersion, Buffer.alloc(0)),
        ).toThrow(AuthenticationFailedError);
        expect(() =>
          open(
            envelope,
            sameKeyForAnyVersion,
            Buffer.concat([AAD, Buffer.from([0])]),
          ),
        ).toThrow(AuthenticationFailedError);
      });

      it('an envelope sealed with empty AAD does not open with a non-empty AAD', () => {
        const sealed = seal(PLAINTEXT, KEY, {
          algorithm,
          keyVersion: 1,
          aad: Buffer.alloc(0),
        });
        expect(open(sealed, () => KEY, Buffer.alloc(0)).equals(PLAINTEXT)).toBe(
          true,
        );
        expect(() => open(sealed, () => KEY, Buffer.from([0]))).toThrow(
          AuthenticationFailedError,
        );
      });

      it('a key version the caller does not hold → UnknownKeyVersionError naming that version', () => {
        const keyForVersion = jest.fn((): Buffer | undefined => undefined);
        let caught: unknown;
        try {
          open(envelope, keyForVersion, AAD);
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(UnknownKeyVersionError);
        expect((caught as UnknownKeyVersionError).keyVersion).toBe(KEY_VERSION);
        expect(keyForVersion).toHaveBeenCalledWith(KEY_VERSION);
      });

      it.each([0, 16, 31, 33, 64])(
        'a %d-byte key from keyForVersion → InvalidCryptoInputError',
        (length) => {
          expect(() =>
            open(envelope, () => Buffer.alloc(length, 1), AAD),
          ).toThrow(InvalidCryptoInputError);
        },
      );
    });

    describe('truncation', () => {
      it('every length below the minimum → TruncatedEnvelopeError, without asking for a key', () => {
        const emptyPlaintextEnvelope = seal(Buffer.alloc(0), KEY, {
          algorithm,
          keyVersion: KEY_VERSION,
          aad: AAD,
        });
        const keyForVersion = jest.fn(sameKeyForAnyVersion);
        const wrong: { source: string; length: number; threw: string }[] = [];
        for (const [source, full] of [
          ['empty plaintext', emptyPlaintextEnvelope],
          ['non-empty plaintext', envelope],
        ] as const) {
          for (let length = 0; length < minimumLength; length++) {
            const threw = thrownName(() =>
              open(full.subarray(0, length), keyForVersion, AAD),
            );
            if (threw !== TruncatedEnvelopeError.name)
              wrong.push({ source, length, threw });
          }
        }
        expect(wrong).toEqual([]);
        expect(keyForVersion).not.toHaveBeenCalled();
      });

      it('readEnvelopeHeader() → TruncatedEnvelopeError below the 6 header bytes', () => {
        for (let length = 0; length < HEADER_BYTES; length++) {
          expect(() =>
            readEnvelopeHeader(envelope.subarray(0, length)),
          ).toThrow(TruncatedEnvelopeError);
        }
        expect(
          readEnvelopeHeader(envelope.subarray(0, HEADER_BYTES)).keyVersion,
        ).toBe(KEY_VERSION);
      });

      it('every shortened envelope at or above the minimum length → AuthenticationFailedError (the tag is always 16 bytes)', () => {
        const wrong: { length: number; threw: string }[] = [];
        for (let length = minimumLength; length < envelope.length; length++) {
          const threw = thrownName(() =>
            open(envelope.subarray(0, length), sameKeyForAnyVersion, AAD),
          );
          if (threw !== AuthenticationFailedError.name)
            wrong.push({ length, threw });
        }
        expect(wrong).toEqual([]);
      });

      it('an envelope with trailing bytes appended fails authentication', () => {
        const extended = Buffer.concat([envelope, Buffer.from([0])]);
        expect(() => open(extended, sameKeyForAnyVersion, AAD)).toThrow(
          AuthenticationFailedError,
        );
      });
    });

    describe('unsupported envelopes', () => {
      it('every format version other than 1 → UnsupportedEnvelopeError', () => {
        const wrong: { value: number; threw: string }[] = [];
        for (let value = 0; value < 256; value++) {
          if (value === ENVELOPE_FORMAT_VERSION) continue;
          const tampered = Buffer.from(envelope);
          tampered[0] = value;
          const threw = thrownName(() =>
            open(tampered, sameKeyForAnyVersion, AAD),
          );
          if (threw !== UnsupportedEnvelopeError.name)
            wrong.push({ value, threw });
        }
        expect(wrong).toEqual([]);
      });

      it('every algorithm id other than 1 and 2 → UnsupportedEnvelopeError', () => {
        const wrong: { value: number; threw: string }[] = [];
        for (let value = 0; value < 256; value++) {
          if (value === 1 || value === 2) continue;
          const tampered = Buffer.from(envelope);
          tampered[1] = value;
          const threw = thrownName(() =>
            open(tampered, sameKeyForAnyVersion, AAD),
          );
          if (threw !== UnsupportedEnvelopeError.name)
            wrong.push({ value, threw });
        }
        expect(wrong).toEqual([]);
      });
    });

    describe('seal() input validation', () => {
      it.each([-1, 0x100000000, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
        'rejects key version %p with InvalidCryptoInputError',
        (keyVersion) => {
          expect(() =>
            seal(PLAINTEXT, KEY, { algorithm, keyVersion, aad: AAD }),
          ).toThrow(InvalidCryptoInputError);
        },
      );

      it.each([0, 16, 24, 31, 33])(
        'rejects a %d-byte key with InvalidCryptoInputError',
        (length) => {
          expect(() =>
            seal(PLAINTEXT, Buffer.alloc(length, 1), {
              algorithm,
              keyVersion: 1,
              aad: AAD,
            }),
          ).toThrow(InvalidCryptoInputError);
        },
      );
    });

    describe('properties (fast-check)', () => {
      const bytes = (maxLength: number) =>
        fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));
      const key = fc
        .uint8Array({ minLength: 32, maxLength: 32 })
        .map((array) => Buffer.from(array));
      const keyVersion = fc.integer({ min: 0, max: 0xffffffff });

      it('open(seal(p)) === p for any plaintext (including empty), AAD, key and key version', () => {
        fc.assert(
          fc.property(
            bytes(1024),
            bytes(256),
            key,
            keyVersion,
            (plaintext, aad, k, version) => {
              const sealed = seal(plaintext, k, {
                algorithm,
                keyVersion: version,
                aad,
              });
              expect(sealed.length).toBe(
                HEADER_BYTES + nonceBytes + plaintext.length + TAG_BYTES,
              );
              expect(readEnvelopeHeader(sealed)).toEqual({
                formatVersion: 1,
                algorithm,
                keyVersion: version,
              });
              const opened = open(
                sealed,
                (v) => (v === version ? k : undefined),
                aad,
              );
              expect(opened.equals(plaintext)).toBe(true);
            },
          ),
          { numRuns: 200 },
        );
      });

      it('an envelope never opens under a different AAD', () => {
        fc.assert(
          fc.property(
            bytes(64),
            bytes(64),
            bytes(64),
            (plaintext, aad, otherAad) => {
              fc.pre(!aad.equals(otherAad));
              const sealed = seal(plaintext, KEY, {
                algorithm,
                keyVersion: 9,
                aad,
              });
              expect(thrownName(() => open(sealed, () => KEY, otherAad))).toBe(
                AuthenticationFailedError.name,
              );
            },
          ),
        );
      });

      it('two seals of the same input differ (fresh random nonces)', () => {
        fc.assert(
          fc.property(
            bytes(128),
            bytes(64),
            keyVersion,
            (plaintext, aad, version) => {
              const options = { algorithm, keyVersion: version, aad };
              const first = seal(plaintext, KEY, options);
              const second = seal(plaintext, KEY, options);
              const nonce = (e: Buffer) =>
                e.subarray(HEADER_BYTES, HEADER_BYTES + nonceBytes);
              expect(nonce(first).equals(nonce(second))).toBe(false);
              expect(first.equals(second)).toBe(false);
              expect(
                open(second, () => KEY, aad).equals(
                  open(first, () => KEY, aad),
                ),
              ).toBe(true);
            },
          ),
        );
      });
    });
  },
);

describe('seal() algorithm validation', () => {
  it.each([0, 3, 255])(
    'rejects algorithm id %d with InvalidCryptoInputError',
    (algorithm) => {
      expect(() =>
        seal(PLAINTEXT, KEY, { algorithm, keyVersion: 1, aad: AAD }),
      ).toThrow(InvalidCryptoInputError);
    },
  );
});

describe('crypto errors', () => {
  it.each([
    [new TruncatedEnvelopeError('x'), 'TruncatedEnvelopeError'],
    [new UnsupportedEnvelopeError('x'), 'UnsupportedEnvelopeError'],
    [new AuthenticationFailedError(), 'AuthenticationFailedError'],
    [new UnknownKeyVersionError(5), 'UnknownKeyVersionError'],
    [new InvalidCryptoInputError('x'), 'InvalidCryptoInputError'],
  ])('%p is a CryptoError named %s', (error, name) => {
    // Callers map errors by class and log `name`; both must survive transpilation.
    expect(error).toBeInstanceOf(CryptoError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
  });

  it('UnknownKeyVersionError carries the key version', () => {
    const error = new UnknownKeyVersionError(42);
    expect(error.keyVersion).toBe(42);
    expect(error.message).toContain('42');
  });
});

describe('nonces across refills of the nonce pool', () => {
  it('never repeats a nonce over enough seals of both algorithms to refill the 64 KiB pool three times', () => {
    const key = Buffer.alloc(32, 9);
    const seen = new Set<string>();
    const seals = 12_000; // 18 nonce bytes each on average: 216,000 bytes
    for (let i = 0; i < seals; i++) {
      const algorithm =
        i % 2 === 0 ? AeadAlgorithm.XChaCha20Poly1305 : AeadAlgorithm.Aes256Gcm;
      const envelope = seal(Buffer.from('x'), key, {
        algorithm,
        keyVersion: 1,
        aad: Buffer.alloc(0),
      });
      const nonceBytes =
        algorithm === AeadAlgorithm.XChaCha20Poly1305 ? 24 : 12;
      seen.add(envelope.subarray(6, 6 + nonceBytes).toString('hex'));
    }
    expect(seen.size).toBe(seals);
  });
});

describe('PreparedAad (header ‖ aad built once per header)', () => {
  it.each(ALGORITHMS)(
    'is interchangeable with the plain AAD buffer ($name)',
    ({ algorithm }) => {
      const prepared = new PreparedAad(AAD);
      for (const keyVersion of [1, 2, KEY_VERSION]) {
        const sealedPrepared = seal(PLAINTEXT, KEY, {
          algorithm,
          keyVersion,
          aad: prepared,
        });
        const sealedPlain = seal(PLAINTEXT, KEY, {
          algorithm,
          keyVersion,
          aad: AAD,
        });
        expect(open(sealedPrepared, () => KEY, AAD).equals(PLAINTEXT)).toBe(
          true,
        );
        expect(open(sealedPlain, () => KEY, prepared).equals(PLAINTEXT)).toBe(
          true,
        );
        expect(
          open(sealedPrepared, () => KEY, prepared).equals(PLAINTEXT),
        ).toBe(true);
      }
    },
  );

  it('binds each envelope to its own header: a rewritten key version or algorithm still fails', () => {
    const prepared = new PreparedAad(AAD);
    const envelope = seal(PLAINTEXT, KEY, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: 1,
      aad: prepared,
    });
    const rewritten = Buffer.from(envelope);
    rewritten.writeUInt32BE(2, 2);
    expect(thrownName(() => open(rewritten, () => KEY, prepared))).toBe(
      AuthenticationFailedError.name,
    );
    expect(open(envelope, () => KEY, prepared).equals(PLAINTEXT)).toBe(true);
  });

  it('keeps its own copy of the AAD', () => {
    const aad = Buffer.from(AAD);
    const prepared = new PreparedAad(aad);
    aad.fill(0);
    const envelope = seal(PLAINTEXT, KEY, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: 1,
      aad: prepared,
    });
    expect(open(envelope, () => KEY, AAD).equals(PLAINTEXT)).toBe(true);
  });

  it('an envelope sealed under another PreparedAad does not open', () => {
    const envelope = seal(PLAINTEXT, KEY, {
      algorithm: AeadAlgorithm.Aes256Gcm,
      keyVersion: 1,
      aad: new PreparedAad(AAD),
    });
    const other = new PreparedAad(Buffer.concat([AAD, Buffer.from('x')]));
    expect(thrownName(() => open(envelope, () => KEY, other))).toBe(
      AuthenticationFailedError.name,
    );
  });
});

describe('openAndUse (plaintext lent to a callback, wiped when it returns)', () => {
  const keyFor = (version: number) => (version === 7 ? KEY : undefined);
  const sealWith = (algorithm: AeadAlgorithm, plaintext = PLAINTEXT) =>
    seal(plaintext, KEY, { algorithm, keyVersion: 7, aad: AAD });

  it.each(ALGORITHMS)(
    'opens what seal() sealed and wipes the lent buffer afterwards ($name)',
    ({ algorithm }) => {
      let lent: Buffer | undefined;
      const text = openAndUse(
        sealWith(algorithm),
        keyFor,
        new PreparedAad(AAD),
        (plaintext) => {
          lent = plaintext; // kept only to check the wipe; callers must not
          return plaintext.toString('utf8');
        },
      );
      expect(text).toBe(PLAINTEXT.toString('utf8'));
      expect(lent!.equals(Buffer.alloc(PLAINTEXT.length))).toBe(true);
    },
  );

  it('handles an empty plaintext, one larger than the scratch buffer, and a nested open', () => {
    const big = Buffer.alloc(10_000, 7);
    expect(
      openAndUse(
        sealWith(AeadAlgorithm.XChaCha20Poly1305, Buffer.alloc(0)),
        keyFor,
        AAD,
        (p) => p.length,
      ),
    ).toBe(0);
    expect(
      openAndUse(
        sealWith(AeadAlgorithm.XChaCha20Poly1305, big),
        keyFor,
        AAD,
        (p) => p.equals(big),
      ),
    ).toBe(true);
    const inner = sealWith(
      AeadAlgorithm.XChaCha20Poly1305,
      Buffer.from('inner'),
    );
    const both = openAndUse(
      sealWith(AeadAlgorithm.XChaCha20Poly1305, Buffer.from('outer')),
      keyFor,
      AAD,
      (outer) => {
        const innerText = openAndUse(inner, keyFor, AAD, (p) => p.toString());
        return `${outer.toString()}+${innerText}`; // the outer plaintext survives the inner open
      },
    );
    expect(both).toBe('outer+inner');
  });

  it('fails like open(): tampering, unknown key version, truncation — and never calls use', () => {
    const use = jest.fn();
    const envelope = sealWith(AeadAlgorithm.XChaCha20Poly1305);
    expect(
      thrownName(() =>
        openAndUse(
          flipBit(envelope, envelope.length * 8 - 1),
          keyFor,
          AAD,
          use,
        ),
      ),
    ).toBe(AuthenticationFailedError.name);
    expect(
      thrownName(() => openAndUse(envelope, () => undefined, AAD, use)),
    ).toBe(UnknownKeyVersionError.name);
    expect(
      thrownName(() => openAndUse(envelope.subarray(0, 40), keyFor, AAD, use)),
    ).toBe(TruncatedEnvelopeError.name);
    expect(
      thrownName(() => openAndUse(envelope.subarray(0, 3), keyFor, AAD, use)),
    ).toBe(TruncatedEnvelopeError.name);
    expect(use).not.toHaveBeenCalled();
  });

  it('wipes and releases the scratch buffer when use throws', () => {
    let lent: Buffer | undefined;
    expect(() =>
      openAndUse(
        sealWith(AeadAlgorithm.XChaCha20Poly1305),
        keyFor,
        AAD,
        (plaintext) => {
          lent = plaintext;
          throw new Error('boom');
        },
      ),
    ).toThrow('boom');
    expect(lent!.equals(Buffer.alloc(PLAINTEXT.length))).toBe(true);
    expect(
      openAndUse(sealWith(AeadAlgorithm.XChaCha20Poly1305), keyFor, AAD, (p) =>
        p.equals(PLAINTEXT),
      ),
    ).toBe(true);
  });
});
