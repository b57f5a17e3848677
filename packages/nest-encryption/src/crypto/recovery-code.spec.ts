import { InvalidCryptoInputError } from './errors';
import { hkdfSha256, splitPasswordMasterKey } from './kdf';
import {
  RECOVERY_CODE_CHARACTERS,
  deriveRecoveryKek,
  generateRecoveryCode,
  normalizeRecoveryCode,
} from './recovery-code';
import { secureMemoryStatus } from './secure-memory';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){6}$/;
const SALT = Buffer.alloc(16, 0x77);
const PEPPER = Buffer.alloc(32, 0x99);
/** A valid code that uses every letter of the alphabet once, in canonical form. */
const CANONICAL = 'ABCDEFGHJKMNPQRSTVWXYZ012345';
const DISPLAYED = 'ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345';

describe('generateRecoveryCode', () => {
  it('has 7 groups of 4 Crockford base32 characters joined by "-"', () => {
    for (let i = 0; i < 50; i++) {
      const code = generateRecoveryCode();
      expect(code).toMatch(CODE_FORMAT);
      expect(code).not.toMatch(/[ILOU]/);
    }
  });

  it('carries at least 128 bits (28 characters × 5 bits)', () => {
    expect(RECOVERY_CODE_CHARACTERS).toBe(28);
    expect(
      RECOVERY_CODE_CHARACTERS * Math.log2(CROCKFORD.length),
    ).toBeGreaterThanOrEqual(128);
    expect(generateRecoveryCode().replace(/-/g, '')).toHaveLength(28);
  });

  it('is its own canonical form once the hyphens are removed', () => {
    const code = generateRecoveryCode();
    expect(normalizeRecoveryCode(code)).toBe(code.replace(/-/g, ''));
  });

  it('uses the whole alphabet roughly uniformly (distribution sanity check)', () => {
    const counts = new Map<string, number>();
    const codes = new Set<string>();
    const total = 400;
    for (let i = 0; i < total; i++) {
      const code = generateRecoveryCode();
      codes.add(code);
      for (const c of code.replace(/-/g, ''))
        counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(codes.size).toBe(total);
    expect([...counts.keys()].sort().join('')).toBe(CROCKFORD);
    // 11 200 characters → 350 expected per symbol, σ ≈ 18.4. ±120 is > 6σ, so a false alarm is
    // practically impossible, while a biased mapping (e.g. `byte % 31`, which over-weights the
    // first symbols and never yields the last) lands far outside.
    const expected = (total * 28) / 32;
    for (const [c, n] of counts) {
      expect({ c, n, ok: Math.abs(n - expected) < 120 }).toEqual({
        c,
        n,
        ok: true,
      });
    }
  });
});

describe('normalizeRecoveryCode', () => {
  it.each([
    ['the displayed form', DISPLAYED],
    ['lower case', DISPLAYED.toLowerCase()],
    ['mixed case', 'aBcD-eFgH-jKmN-pQrS-tVwX-yZ01-2345'],
    ['spaces instead of hyphens', 'ABCD EFGH JKMN PQRS TVWX YZ01 2345'],
    ['no separators', CANONICAL],
    [
      'surrounding and irregular whitespace',
      '  abcd\tefgh-jkmn  pqrs\ntvwx yz01 2345 ',
    ],
    ['O typed for 0 and I typed for 1', 'ABCD-EFGH-JKMN-PQRS-TVWX-YZOI-2345'],
    [
      'lower-case o and l typed for 0 and 1',
      'abcd-efgh-jkmn-pqrs-tvwx-yzol-2345',
    ],
  ])('canonicalises %s', (_label, input) => {
    expect(normalizeRecoveryCode(input)).toBe(CANONICAL);
  });

  it.each([
    ['empty', ''],
    ['27 characters', CANONICAL.slice(0, 27)],
    ['29 characters', `${CANONICAL}0`],
    ['the excluded letter U', `U${CANONICAL.slice(1)}`],
    ['a lower-case u', `u${CANONICAL.slice(1)}`],
    ['punctuation', `*${CANONICAL.slice(1)}`],
    ['an underscore separator', 'ABCD_EFGH_JKMN_PQRS_TVWX_YZ01_2345'],
    ['a non-ASCII letter', `\u00c4${CANONICAL.slice(1)}`],
    ['two recovery codes', `${DISPLAYED}-${DISPLAYED}`],
  ])('rejects %s with InvalidCryptoInputError', (_label, input) => {
    expect(() => normalizeRecoveryCode(input)).toThrow(InvalidCryptoInputError);
  });
});

describe('deriveRecoveryKek', () => {
  it('is HKDF(salt, pepper ‖ canonical code, "recovery/kek"), 32 bytes, and no password-branch key', () => {
    const kek = deriveRecoveryKek(DISPLAYED, SALT, PEPPER);
    expect(kek.length).toBe(32);
    expect(
      kek.equals(
        hkdfSha256(
          Buffer.concat([PEPPER, Buffer.from(CANONICAL)]),
          'recovery/kek',
          32,
          SALT,
        ),
      ),
    ).toBe(true);
    // Label separation: the same secret through the password branch gives other keys.
    expect(
      kek.equals(
        splitPasswordMasterKey(Buffer.concat([PEPPER, Buffer.from(CANONICAL)]))
          .kek,
      ),
    ).toBe(false);
  });

  it('gives the same KEK for the code typed with different case, spacing and look-alikes', () => {
    const reference = deriveRecoveryKek(DISPLAYED, SALT, PEPPER);
    for (const typed of [
      'abcd efgh jkmn pqrs tvwx yzol 2345',
      CANONICAL.toLowerCase(),
      ' ABCD-EFGH-JKMN-PQRS-TVWX-YZOI-2345 ',
    ]) {
      expect(deriveRecoveryKek(typed, SALT, PEPPER).equals(reference)).toBe(
        true,
      );
    }
  });

  it('differs for another code, salt or pepper', () => {
    const reference = deriveRecoveryKek(DISPLAYED, SALT, PEPPER);
    const otherCode = `${CANONICAL.slice(0, 27)}6`;
    expect(deriveRecoveryKek(otherCode, SALT, PEPPER).equals(reference)).toBe(
      false,
    );
    expect(
      deriveRecoveryKek(DISPLAYED, Buffer.alloc(16, 0x78), PEPPER).equals(
        reference,
      ),
    ).toBe(false);
    expect(
      deriveRecoveryKek(DISPLAYED, SALT, Buffer.alloc(32, 0x98)).equals(
        reference,
      ),
    ).toBe(false);
  });

  it('rejects something that is not a recovery code, and a short salt, with InvalidCryptoInputError', () => {
    expect(() => deriveRecoveryKek('not-a-code', SALT, PEPPER)).toThrow(
      InvalidCryptoInputError,
    );
    expect(() => deriveRecoveryKek(DISPLAYED, Buffer.alloc(8), PEPPER)).toThrow(
      InvalidCryptoInputError,
    );
  });
});

describe('normalizeRecoveryCode with non-ASCII look-alikes', () => {
  // Without an ASCII check these pass: 'ß' upper-cases to 'SS', dotless 'ı' to 'I' (read as 1).
  it.each([
    ['ß standing for SS', (compact: string) => `${compact.slice(0, 26)}ß`],
    ['dotless ı standing for 1', (compact: string) => `ı${compact.slice(1)}`],
  ])('rejects %s', (_name, forge) => {
    const compact = generateRecoveryCode().replace(/-/g, '');
    expect(() => normalizeRecoveryCode(forge(compact))).toThrow(
      InvalidCryptoInputError,
    );
  });
});

describe('normalizeRecoveryCode, written a character at a time into locked memory', () => {
  /** The string-based form it replaced (upper-case, strip, map look-alikes, check): the reference. */
  function reference(input: string): string {
    if (!/^[\x20-\x7e\s]*$/.test(input))
      throw new InvalidCryptoInputError('not a recovery code');
    const canonical = input
      .toUpperCase()
      .replace(/[\s-]/g, '')
      .replace(/O/g, '0')
      .replace(/[IL]/g, '1');
    if (
      canonical.length !== 28 ||
      [...canonical].some((c) => !CROCKFORD.includes(c))
    )
      throw new InvalidCryptoInputError('not a recovery code');
    return canonical;
  }
  const outcome = (fn: () => string) => {
    try {
      return fn();
    } catch (error) {
      return error instanceof InvalidCryptoInputError
        ? 'rejected'
        : `threw ${String(error)}`;
    }
  };

  it('agrees with the string-based reference on typed codes, Unicode white space and noise', () => {
    // Characters a typed code can hold, Unicode white space (/\s/ accepts it), and others.
    const pieces = [
      ...'0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyzOoIiLlUu- ',
      '\t',
      '\n',
      '\u00a0',
      '\u2003',
      '\u3000',
      '\ufeff',
      '\u2028',
      '*',
      '_',
      'ß',
      'ı',
      '\u00c4',
      '\u200b',
    ];
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 12;
    const inputs = [
      DISPLAYED,
      CANONICAL,
      `\u00a0${DISPLAYED}\u3000`,
      `${DISPLAYED}\u200b`,
      generateRecoveryCode().toLowerCase(),
    ];
    for (let i = 0; i < 3000; i++) {
      const code = generateRecoveryCode();
      // Mostly a real code, mutated: a character replaced, inserted or removed.
      const chars = [...code];
      for (let n = next() % 3; n > 0; n--) {
        const at = next() % (chars.length + 1);
        const piece = pieces[next() % pieces.length];
        const op = next() % 3;
        if (op === 0) chars[at] = piece;
        else if (op === 1) chars.splice(at, 0, piece);
        else chars.splice(at, 1);
      }
      inputs.push(chars.join(''));
    }
    let accepted = 0;
    for (const input of inputs) {
      const expected = outcome(() => reference(input));
      expect({
        input,
        result: outcome(() => normalizeRecoveryCode(input)),
      }).toEqual({ input, result: expected });
      if (expected !== 'rejected') {
        accepted++;
        expect(
          deriveRecoveryKek(input, SALT, PEPPER).equals(
            hkdfSha256(
              Buffer.concat([PEPPER, Buffer.from(expected)]),
              'recovery/kek',
              32,
              SALT,
            ),
          ),
        ).toBe(true);
      } else {
        expect(() => deriveRecoveryKek(input, SALT, PEPPER)).toThrow(
          InvalidCryptoInputError,
        );
      }
    }
    // Both outcomes were exercised.
    expect(accepted).toBeGreaterThan(300);
    expect(accepted).toBeLessThan(inputs.length - 300);
  });

  it('gives back every locked slot it takes, on success and on rejection', () => {
    const before = secureMemoryStatus().slotsInUse;
    generateRecoveryCode();
    normalizeRecoveryCode(DISPLAYED);
    expect(() => normalizeRecoveryCode(`${CANONICAL}0`)).toThrow(
      InvalidCryptoInputError,
    );
    deriveRecoveryKek(DISPLAYED, SALT, PEPPER).fill(0);
    expect(() => deriveRecoveryKek('not-a-code', SALT, PEPPER)).toThrow(
      InvalidCryptoInputError,
    );
    // The KEK itself is the caller's to release.
    expect(secureMemoryStatus().slotsInUse - before).toBeLessThanOrEqual(1);
  });
});
