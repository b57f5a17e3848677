import {
  AeadAlgorithm,
  HEADER_BYTES,
  TAG_BYTES,
  readEnvelopeHeader,
} from './aead';
import {
  DataKeyWrapContext,
  generateDataKey,
  unwrapDataKey,
  wrapDataKey,
} from './data-key';
import { AuthenticationFailedError } from './errors';

const KEK = Buffer.alloc(32, 0x5a);
const OTHER_KEK = Buffer.alloc(32, 0xa5);
const CONTEXT: DataKeyWrapContext = {
  userId: '0b9a3c1e-7d52-4c1a-9b8e-2f6d1a0c4e77',
  keyVersion: 3,
  wrappedBy: 'password',
};

describe('generateDataKey', () => {
  it('returns fresh 32-byte keys', () => {
    const a = generateDataKey();
    const b = generateDataKey();
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
  });
});

describe.each([
  ['XChaCha20-Poly1305', AeadAlgorithm.XChaCha20Poly1305, 24],
  ['AES-256-GCM', AeadAlgorithm.Aes256Gcm, 12],
])('wrapDataKey / unwrapDataKey with %s', (_name, algorithm, nonceBytes) => {
  const dataKey = generateDataKey();
  let wrapped: Buffer;

  beforeAll(() => {
    wrapped = wrapDataKey(dataKey, KEK, CONTEXT, algorithm);
  });

  it('round-trips the data key', () => {
    expect(unwrapDataKey(wrapped, KEK, CONTEXT).equals(dataKey)).toBe(true);
  });

  it('is an envelope naming the algorithm and the context key version, without the key in clear', () => {
    expect(wrapped.length).toBe(HEADER_BYTES + nonceBytes + 32 + TAG_BYTES);
    expect(readEnvelopeHeader(wrapped)).toEqual({
      formatVersion: 1,
      algorithm,
      keyVersion: CONTEXT.keyVersion,
    });
    expect(wrapped.includes(dataKey)).toBe(false);
  });

  it.each<[string, DataKeyWrapContext]>([
    [
      'another userId',
      { ...CONTEXT, userId: '0b9a3c1e-7d52-4c1a-9b8e-2f6d1a0c4e78' },
    ],
    ['another keyVersion', { ...CONTEXT, keyVersion: 4 }],
    ['another wrappedBy', { ...CONTEXT, wrappedBy: 'recovery' }],
  ])(
    'unwrapping for %s fails with AuthenticationFailedError',
    (_label, context) => {
      expect(() => unwrapDataKey(wrapped, KEK, context)).toThrow(
        AuthenticationFailedError,
      );
    },
  );

  it('unwrapping with another KEK fails with AuthenticationFailedError', () => {
    expect(() => unwrapDataKey(wrapped, OTHER_KEK, CONTEXT)).toThrow(
      AuthenticationFailedError,
    );
  });

  it('a wrap for the recovery KEK opens only as a recovery wrap', () => {
    const recoveryContext: DataKeyWrapContext = {
      ...CONTEXT,
      wrappedBy: 'recovery',
    };
    const recoveryWrap = wrapDataKey(
      dataKey,
      OTHER_KEK,
      recoveryContext,
      algorithm,
    );
    expect(
      unwrapDataKey(recoveryWrap, OTHER_KEK, recoveryContext).equals(dataKey),
    ).toBe(true);
    expect(() => unwrapDataKey(recoveryWrap, OTHER_KEK, CONTEXT)).toThrow(
      AuthenticationFailedError,
    );
  });
});

describe('wrapDataKey defaults', () => {
  it('uses XChaCha20-Poly1305 when no algorithm is given', () => {
    const wrapped = wrapDataKey(generateDataKey(), KEK, CONTEXT);
    expect(readEnvelopeHeader(wrapped).algorithm).toBe(
      AeadAlgorithm.XChaCha20Poly1305,
    );
  });

  it('wraps the same key differently each time (random nonces)', () => {
    const dataKey = generateDataKey();
    expect(
      wrapDataKey(dataKey, KEK, CONTEXT).equals(
        wrapDataKey(dataKey, KEK, CONTEXT),
      ),
    ).toBe(false);
  });
});
