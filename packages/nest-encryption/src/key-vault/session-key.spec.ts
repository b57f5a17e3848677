import fc from 'fast-check';
import { hkdfSync } from 'node:crypto';
import { isSecureBuffer } from '../crypto';
import { deriveSessionKey } from './session-key';

describe('deriveSessionKey', () => {
  it("is HKDF-SHA256(vaultKey, salt = clientShare, info = 'vault-pii/v1/vault/session/' + sessionId), as node:crypto computes it", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ minLength: 16, maxLength: 64 }),
        (vaultKey, sessionId, clientShare) => {
          const expected = Buffer.from(
            hkdfSync(
              'sha256',
              vaultKey,
              clientShare,
              `vault-pii/v1/vault/session/${sessionId}`,
              32,
            ),
          );
          expect(
            deriveSessionKey(
              Buffer.from(vaultKey),
              sessionId,
              Buffer.from(clientShare),
            ).equals(expected),
          ).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is held in locked memory', () => {
    expect(
      isSecureBuffer(
        deriveSessionKey(Buffer.alloc(32, 1), 's1', Buffer.alloc(16, 2)),
      ),
    ).toBe(true);
  });

  it('gives different keys for different sessions, shares and vault keys', () => {
    const vaultKey = Buffer.alloc(32, 1);
    const share = Buffer.alloc(16, 2);
    const base = deriveSessionKey(vaultKey, 's1', share);
    expect(deriveSessionKey(vaultKey, 's2', share).equals(base)).toBe(false);
    expect(
      deriveSessionKey(vaultKey, 's1', Buffer.alloc(16, 3)).equals(base),
    ).toBe(false);
    expect(
      deriveSessionKey(Buffer.alloc(32, 4), 's1', share).equals(base),
    ).toBe(false);
  });
});
