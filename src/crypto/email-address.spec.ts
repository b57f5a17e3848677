import { randomBytes } from 'node:crypto';
import { computeBlindIndex } from '@vault-pii/nest-encryption/crypto';
import {
  EMAIL_MAX_LENGTH,
  emailIndexForm,
  legacyEmailIndexForm,
  legacyNormalizeEmail,
  normalizeEmailAddress,
} from './email-address';

const normalized = (input: string) => {
  const result = normalizeEmailAddress(input);
  return result.ok ? result.email : `(${result.problem})`;
};

describe('normalizeEmailAddress (docs/http-api.md#emails)', () => {
  it.each([
    ['ada@example.org', 'ada@example.org'],
    ['  Ada@Example.ORG \t', 'ada@example.org'],
    ['\u00a0ada@example.org\u3000', 'ada@example.org'],
    ['\n\r ada@example.org \v\f', 'ada@example.org'],
    // Full-width letters, digits, @ and dot (an IME's output) are the ASCII address.
    [
      '\uff41\uff44\uff41\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff4f\uff52\uff47',
      'ada@example.org',
    ],
    ['ADA\uff11@EXAMPLE.ORG', 'ada1@example.org'],
    // A Unicode domain and its punycode are one address.
    ['ada@b\u00fccher.de', 'ada@xn--bcher-kva.de'],
    ['Ada@B\u00dcCHER.DE', 'ada@xn--bcher-kva.de'],
    ['ada@xn--bcher-kva.de', 'ada@xn--bcher-kva.de'],
    ['ada@XN--BCHER-KVA.DE', 'ada@xn--bcher-kva.de'],
    // Decomposed ü (u + U+0308) composes first.
    ['ada@bu\u0308cher.de', 'ada@xn--bcher-kva.de'],
    ['Jose\u0301@example.com', 'jos\u00e9@example.com'],
    ['\u00c9MILE@EXAMPLE.COM', '\u00e9mile@example.com'],
    ['user+tag@sub.example.co.uk', 'user+tag@sub.example.co.uk'],
    ['\u1d2cda@example.org', 'ada@example.org'],
  ])('normalises %p to %p', (input, expected) => {
    expect(normalized(input)).toBe(expected);
  });

  it.each([
    ['a lone high surrogate', '\ud800'],
    ['a lone high surrogate in an address', 'ada\ud800@example.org'],
    ['a lone low surrogate', 'ada@exa\udc00mple.org'],
    ['reversed surrogates', 'ada\ude00\ud83d@example.org'],
    ['a zero-width space', 'ada\u200b@example.org'],
    ['a zero-width space in the domain', 'ada@exam\u200bple.org'],
    ['a zero-width joiner', 'ad\u200da@example.org'],
    ['a zero-width non-joiner', 'ad\u200ca@example.org'],
    ['a word joiner', 'ada@example\u2060.org'],
    ['a soft hyphen', 'ada@ex\u00adample.org'],
    ['a BOM at the start', '\ufeffada@example.org'],
    ['a BOM inside', 'ada\ufeff@example.org'],
    ['a right-to-left override', 'ada\u202e@example.org'],
    ['a left-to-right mark', 'ada@example.org\u200e'],
    ['a bidi isolate', '\u2066ada@example.org'],
    ['a variation selector', 'ada\ufe0f@example.org'],
    ['a Hangul filler', 'ada\u3164@example.org'],
    ['a combining grapheme joiner', 'ada\u034f@example.org'],
    ['a NUL', 'ada\u0000@example.org'],
    ['a tab inside', 'ad\ta@example.org'],
    ['DEL', 'ada\u007f@example.org'],
    ['a C1 control', 'ada\u0085x@example.org'],
    ['a private-use character', 'ada\ue000@example.org'],
    ['a line separator inside', 'ada\u2028x@example.org'],
    ['a tag character', 'ada\u{e0061}@example.org'],
  ])('refuses %s as invisible_character', (_case, input) => {
    expect(normalizeEmailAddress(input)).toEqual({
      ok: false,
      problem: 'invisible_character',
    });
  });

  it.each([
    ['empty', '', 'invalid_address'],
    ['spaces only', '   ', 'invalid_address'],
    ['no @', 'ada.example.org', 'invalid_address'],
    ['nothing before @', '@example.org', 'invalid_address'],
    ['no domain', 'ada@', 'invalid_domain'],
    ['a space in the domain', 'ada@exa mple.org', 'invalid_domain'],
    ['a percent-encoded domain', 'ada@ex%41mple.org', 'invalid_domain'],
    ['invalid punycode', 'ada@xn--zz.org', 'invalid_domain'],
    ['a forbidden host character', 'ada@exam<ple.org', 'invalid_domain'],
    ['no top-level domain', 'ada@localhost', 'invalid_address'],
    ['an IP address', 'ada@127.0.0.1', 'invalid_address'],
    ['an IPv6 literal', 'ada@[::1]', 'invalid_address'],
    ['a trailing dot', 'ada@example.org.', 'invalid_address'],
    ['an empty label', 'ada@example..org', 'invalid_address'],
    ['an underscore in the domain', 'ada@ex_ample.org', 'invalid_address'],
    ['a space in the local part', 'a da@example.org', 'invalid_address'],
    ['two dots in the local part', 'a..da@example.org', 'invalid_address'],
    ['a display name', 'Ada <ada@example.org>', 'invalid_domain'],
    [
      'a local part over 64 bytes',
      `${'a'.repeat(65)}@example.org`,
      'invalid_address',
    ],
    [
      '255 characters',
      `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.org`,
      'too_long',
    ],
    ['10 kB', `${'a'.repeat(10_000)}@example.org`, 'too_long'],
    [
      '10 kB of spaces around an address',
      `${' '.repeat(5000)}ada@example.org${' '.repeat(5000)}`,
      'too_long',
    ],
  ])('refuses %s', (_case, input, problem) => {
    expect(normalizeEmailAddress(input)).toEqual({ ok: false, problem });
  });

  it('measures the 254 characters after the domain is in ASCII', () => {
    const local = 'a'.repeat(64);
    const fits = `${local}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.org`;
    expect(fits).toHaveLength(EMAIL_MAX_LENGTH);
    expect(normalized(fits)).toBe(fits);
    expect(normalized(`x${fits}`)).toBe('(too_long)');
    // 250 characters typed, but the punycode of its domain is longer than 254.
    const unicode = `${local}@${'\u00fc'.repeat(60)}.${'c'.repeat(63)}.${'d'.repeat(56)}.org`;
    expect(unicode.length).toBeLessThanOrEqual(EMAIL_MAX_LENGTH);
    expect(normalizeEmailAddress(unicode)).toEqual({
      ok: false,
      problem: 'too_long',
    });
  });

  it('is idempotent: a normalised address normalises to itself', () => {
    for (const input of [
      'Ada@B\u00dcCHER.DE',
      '\uff21\uff24\uff21@example.org',
      '\u0130stanbul@example.org',
      '\u1e9e@example.org',
      '\u03a3\u03c3\u03c2@example.gr',
      'ada@\u0441\u0430\u0439\u0442.\u0440\u0444',
    ]) {
      const once = normalizeEmailAddress(input);
      expect(once.ok).toBe(true);
      if (once.ok) expect(normalized(once.email)).toBe(once.email);
    }
  });

  it('never throws, and returns a valid, idempotent address or a reason, on any string', () => {
    const pieces = [
      '@',
      '.',
      'a',
      'Z',
      '\u00fc',
      '\uff21',
      '\ud800',
      '\udc00',
      '\ud83d\ude00',
      '\u200b',
      ' ',
      '%',
      '-',
      'xn--',
      '"',
      '\\',
      '\u0301',
      '\u1d2c',
      '\u0130',
      '\ufb03',
      '\u2165',
    ];
    const random = randomBytes(20_000);
    for (let i = 0; i < 2000; i++) {
      let input = '';
      for (let j = 0; j < 10; j++)
        input += pieces[random[i * 10 + j] % pieces.length];
      if (i % 3 === 0) input = `${input}@example.org`;
      const result = normalizeEmailAddress(input);
      if (result.ok) {
        expect(result.email.length).toBeLessThanOrEqual(EMAIL_MAX_LENGTH);
        expect(normalized(result.email)).toBe(result.email);
      } else {
        expect(typeof result.problem).toBe('string');
      }
    }
    const randomUnits = String.fromCharCode(
      ...new Uint16Array(random.buffer, random.byteOffset, 5000),
    );
    expect(() => normalizeEmailAddress(randomUnits)).not.toThrow();
    expect(() => emailIndexForm(randomUnits)).not.toThrow();
    expect(() => legacyEmailIndexForm(randomUnits)).not.toThrow();
  });

  it('answers a 100 kB input at once (no quadratic trim or regex)', () => {
    const started = Date.now();
    for (const input of [
      ' a'.repeat(50_000),
      `${' '.repeat(100_000)}x`,
      `${'a@'.repeat(50_000)}`,
    ])
      normalizeEmailAddress(input);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('emailIndexForm', () => {
  it('is the canonical form of a valid address', () => {
    expect(emailIndexForm(' Ada@B\u00fccher.DE ')).toBe('ada@xn--bcher-kva.de');
  });

  it('gives one blind index for every spelling of one address', () => {
    const key = Buffer.alloc(32, 9);
    const indexOf = (email: string) =>
      computeBlindIndex(key, emailIndexForm(email)).toString('hex');
    expect(
      new Set(
        [
          ' Jos\u00e9@B\u00fccher.de',
          'JOSE\u0301@XN--BCHER-KVA.DE ',
          '\uff4a\uff4f\uff53\u00e9@b\u00fccher\uff0ede',
        ].map(indexOf),
      ).size,
    ).toBe(1);
  });

  it('is the legacy form of a stored address the current rules refuse, never an error', () => {
    expect(emailIndexForm('Ada\u200b@Example.org')).toBe(
      'ada\u200b@example.org',
    );
    expect(emailIndexForm('\ud800')).toBe('\ud800');
  });
});

describe('the legacy forms (until every row is re-indexed)', () => {
  it.each([
    ['  Ada@Example.COM \t', 'ada@example.com'],
    ['Jose\u0301@example.com', 'jos\u00e9@example.com'],
    ['ada@B\u00fccher.de', 'ada@b\u00fccher.de'],
    // Full-width stays full-width: the old rules had no NFKC.
    ['\uff41da@example.org', '\uff41da@example.org'],
  ])(
    'legacyNormalizeEmail(%p) is %p (NFC, trimmed, lower-cased)',
    (input, expected) => {
      expect(legacyNormalizeEmail(input)).toBe(expected);
    },
  );

  it('finds the Unicode domain a canonical address was stored under before', () => {
    const canonical = normalized('Ada@B\u00dccher.de');
    expect(legacyEmailIndexForm(canonical)).toBe(
      legacyNormalizeEmail('Ada@B\u00dccher.de'),
    );
    expect(legacyEmailIndexForm('ada@example.org')).toBe('ada@example.org');
    expect(legacyEmailIndexForm('no-at-sign')).toBe('no-at-sign');
  });
});
