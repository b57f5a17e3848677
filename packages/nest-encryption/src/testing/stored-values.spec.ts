import { randomBytes } from 'node:crypto';
import { AeadAlgorithm, seal } from '../crypto';
import {
  ciphertextProblems,
  plaintextProblems,
  StoredValueAssertionError,
} from './stored-values';

const key = randomBytes(32);
const sealed = (text: string, keyVersion = 1) =>
  seal(Buffer.from(text, 'utf8'), key, {
    algorithm: AeadAlgorithm.XChaCha20Poly1305,
    keyVersion,
    aad: Buffer.from('test'),
  });
const columns = [
  { propertyName: 'fullName', databaseName: 'full_name' },
  { propertyName: 'email', databaseName: 'email' },
];
const SECRET = 'Ada Lovelace';

describe('the stored-value checks behind assertStoredAsCiphertext', () => {
  it('pass envelopes and NULLs, and the key version asked for', () => {
    const row = { id: 'a', full_name: sealed(SECRET, 2), email: null };
    expect(
      ciphertextProblems(columns, row, { keyVersion: 2, plaintexts: [SECRET] }),
    ).toEqual([]);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'plaintext bytes',
      Buffer.from(`${SECRET}, born 10 December 1815`, 'utf8'),
      /^full_name does not begin with an envelope header/,
    ],
    ['text', SECRET, /^full_name is not bytea \(a string is stored\)$/],
    [
      'a short value',
      Buffer.from([1, 1, 0]),
      /^full_name is 3 bytes, shorter than any envelope$/,
    ],
    [
      'an unknown algorithm',
      Buffer.concat([Buffer.from([1, 9]), randomBytes(60)]),
      /^full_name does not begin with an envelope header/,
    ],
  ])(
    'name the column holding %s, and never the value',
    (_name, value, message) => {
      const problems = ciphertextProblems(columns, {
        full_name: value,
        email: null,
      });
      expect(problems).toEqual([expect.stringMatching(message)]);
      expect(problems.join()).not.toContain('Ada');
    },
  );

  it('name a wrong key version', () => {
    expect(
      ciphertextProblems(
        columns,
        { full_name: sealed(SECRET, 1), email: null },
        { keyVersion: 2 },
      ),
    ).toEqual(['full_name is sealed under key version 1, expected 2']);
  });

  it('find a plaintext in any column of the row (UTF-8, text, hex, JSON) by its index only', () => {
    const row = {
      full_name: sealed('x'),
      email: null,
      notes: `a note about ${SECRET}`,
      blob: Buffer.concat([
        randomBytes(4),
        Buffer.from(SECRET),
        randomBytes(4),
      ]),
      hex_text: `\\x${Buffer.from(SECRET).toString('hex')}`,
      details: { name: SECRET },
    };
    const problems = ciphertextProblems(columns, row, {
      plaintexts: ['nowhere at all', SECRET],
    });
    expect(problems).toEqual([
      'notes holds plaintexts[1] (UTF-8)',
      'blob holds plaintexts[1] (UTF-8)',
      'hex_text holds plaintexts[1] (hex)',
      'details holds plaintexts[1] (UTF-8)',
    ]);
    expect(problems.join()).not.toContain('Ada');
  });

  it('refuse an empty plaintext (found everywhere) and a non-string one', () => {
    expect(() =>
      ciphertextProblems(columns, { full_name: null }, { plaintexts: [''] }),
    ).toThrow('plaintexts[0] is empty');
    expect(() =>
      ciphertextProblems(
        columns,
        { full_name: null },
        {
          plaintexts: [42 as unknown as string],
        },
      ),
    ).toThrow('plaintexts[0] must be a string or a Buffer');
  });

  it('an error names the table first and lists every problem', () => {
    const error = new StoredValueAssertionError('people', [
      'full_name is not bytea (a string is stored)',
      'email holds plaintexts[0] (UTF-8)',
    ]);
    expect(error.message).toBe(
      'people: full_name is not bytea (a string is stored); email holds plaintexts[0] (UTF-8)',
    );
    expect(error.name).toBe('StoredValueAssertionError');
  });
});

describe('the stored-value checks behind assertStoredAsPlaintext', () => {
  it('pass non-envelopes and NULLs holding each plaintext', () => {
    const row = {
      full_name: Buffer.from([0, 1, ...Buffer.from(SECRET)]),
      email: null,
    };
    expect(plaintextProblems(columns, row, { plaintexts: [SECRET] })).toEqual(
      [],
    );
  });

  it('name an envelope, and a plaintext found in no column, by index', () => {
    const row = { full_name: sealed(SECRET, 3), email: 'someone' };
    const problems = plaintextProblems(columns, row, { plaintexts: [SECRET] });
    expect(problems).toEqual([
      'full_name holds an envelope (key version 3), expected plaintext',
      'plaintexts[0] is in none of full_name, email',
    ]);
    expect(problems.join()).not.toContain('Ada');
  });
});
