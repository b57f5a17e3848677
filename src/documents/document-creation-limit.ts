import { Injectable, Logger } from '@nestjs/common';
import { FixedWindowLimit } from '../auth/rate-limit/fixed-window-limit';
import { RateLimitKeys } from '../auth/rate-limit/rate-limit-keys';
import { RateLimitRedis } from '../auth/rate-limit/rate-limit-redis';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';

/** Names the limit in a 429's `limit` member and in `RateLimit-Policy`. */
export const DOCUMENT_CREATION_LIMIT_POLICY = 'DOCUMENT_CREATION_LIMIT';

/**
 * `DOCUMENT_CREATION_LIMIT` per `DOCUMENT_CREATION_WINDOW` per user (docs/limits.md#configurable),
 * a `FixedWindowLimit` under an HMAC of the user id. Deleting documents gives nothing back; a
 * creation that fails does. Fails closed: while the store does not answer, creations answer 503.
 */
@Injectable()
export class DocumentCreationLimit {
  private readonly limit: FixedWindowLimit;
  private readonly keys: RateLimitKeys;

  constructor(
    config: AppConfig,
    serverKeys: ServerKeys,
    redis: RateLimitRedis,
  ) {
    this.keys = new RateLimitKeys(serverKeys.rateLimitKey);
    this.limit = new FixedWindowLimit(redis, {
      policy: {
        name: DOCUMENT_CREATION_LIMIT_POLICY,
        quota: config.limits.documentCreations,
        windowSeconds: config.limits.documentCreationWindowSeconds,
      },
      subject: 'document creation',
      tooManyDetail: 'Too many documents created recently; try again later.',
      logger: new Logger(DocumentCreationLimit.name),
    });
  }

  /**
   * Counts one creation.
   * @returns takes the creation back (call it when the document was not created after all).
   * @throws TooManyRequestsError (429, `Retry-After`: until the window ends) over the limit.
   * @throws ServiceBusyError (503) when the store does not answer.
   */
  admit(ownerId: string): Promise<() => Promise<void>> {
    return this.limit.admit(this.keys.forDocumentCreations(ownerId));
  }
}
