import { emailIndexForm } from '../../crypto/email-address';
import { hmacSha256Into, SHA256_BYTES } from '../../crypto/hkdf';

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

  /** One client address's budget across all auth routes. */
  forClientAddress(address: string): string {
    return `address:${this.mac('address', address)}`;
  }

  /** One user's document creations (`DOCUMENT_CREATION_LIMIT`): the user id is not kept in clear either. */
  forDocumentCreations(userId: string): string {
    return `documents:${this.mac('document-creations', userId)}`;
  }

  private mac(purpose: string, value: string): string {
    const mac = Buffer.allocUnsafe(SHA256_BYTES);
    hmacSha256Into(mac, this.key, Buffer.from(`${purpose}\0${value}`, 'utf8'));
    return mac.subarray(0, 16).toString('hex');
  }
}
