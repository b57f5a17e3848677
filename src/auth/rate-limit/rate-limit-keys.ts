import { normalizeIp } from '@nestjs/throttler';
import { emailIndexForm } from '../../crypto/email-address';
import {
  hmacSha256Into,
  SHA256_BYTES,
} from '@vault-pii/nest-encryption/crypto';

/**
 * One IPv6 client is a /64: the smallest prefix an ISP delegates to a subscriber (RFC 6177), so a
 * single host can hop across 2^64 addresses of its own, but not out of its /64.
 */
export const CLIENT_IPV6_PREFIX_BITS = 64;

/**
 * The client a per-address limit counts (docs/security.md#rate-limits): an IPv4 address as it is,
 * an IPv6 address as its /64 (`2001:db8:1:2::/64`, any spelling, zone id dropped), an IPv4-mapped
 * IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for IPv4) as the IPv4
 * address. Anything else is counted as given. `@nestjs/throttler`'s `normalizeIp` does the
 * parsing; the guard applies the same to `req.ip`, and this is idempotent.
 */
export function clientAddressBucket(address: string): string {
  return normalizeIp(address, CLIENT_IPV6_PREFIX_BITS);
}

/**
 * Names of rate-limit counters: a keyed HMAC (128 bits) of what is counted, so neither an email
 * nor a client address appears in Redis, in memory dumps of the limiter or in logs — and,
 * keyed apart from the blind index, a counter cannot be matched to a `users.email_index` row.
 */
export class RateLimitKeys {
  /** @param key the server's rate-limit key (`ServerKeys.rateLimitKey`). */
  constructor(private readonly key: Buffer) {}

  /**
   * One account's login counter: every spelling of one email is one account
   * (docs/http-api.md#emails), the login form's and the account's stored email alike, even one
   * stored in its legacy form (a Unicode domain normalises to the punycode the form gives).
   */
  forAccount(email: string): string {
    return `login:${this.mac('account', emailIndexForm(email))}`;
  }

  /** One client's budget across all auth routes: an IPv6 /64 is one client (`clientAddressBucket`). */
  forClientAddress(address: string): string {
    return `address:${this.mac('address', clientAddressBucket(address))}`;
  }

  /** One email's register attempts (docs/security.md#rate-limits), every spelling alike. */
  forRegistration(email: string): string {
    return `register:${this.mac('registration', emailIndexForm(email))}`;
  }

  /** One user's document creations (`DOCUMENT_CREATION_LIMIT`): the user id is not kept in clear either. */
  forDocumentCreations(userId: string): string {
    return `documents:${this.mac('document-creations', userId)}`;
  }

  /** One access key's requests (`ACCESS_KEY_RATE_LIMIT`), under an HMAC of its id. */
  forAccessKey(accessKeyId: string): string {
    return `access-keys:${this.mac('access-key-requests', accessKeyId)}`;
  }

  private mac(purpose: string, value: string): string {
    const mac = Buffer.allocUnsafe(SHA256_BYTES);
    hmacSha256Into(mac, this.key, Buffer.from(`${purpose}\0${value}`, 'utf8'));
    return mac.subarray(0, 16).toString('hex');
  }
}
