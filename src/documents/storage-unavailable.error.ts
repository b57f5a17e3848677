import { RetryLaterError } from '../common/problem/too-many-requests.error';

/**
 * `Retry-After` of a 507 `storage_unavailable`: an operator has to free space or remount the
 * volume, so a client retrying sooner would only be refused again.
 */
export const STORAGE_RETRY_AFTER_SECONDS = 60;

/**
 * The documents volume would not take a file (full, over quota, read-only, not permitted, the
 * folder gone) or has less free space than `DOCUMENTS_MIN_FREE_SPACE`: 507 `storage_unavailable`
 * with `Retry-After`. Logged once per outage by `DocumentFiles`, never per request.
 */
export class StorageUnavailableError extends RetryLaterError {
  constructor(
    /** For the outage log only: an errno code or the free-space shortfall, never a path. */
    readonly reason: string,
  ) {
    super(
      'storage_unavailable',
      STORAGE_RETRY_AFTER_SECONDS,
      "Documents cannot be stored right now: the server's document storage is full or not writable. Existing documents can still be downloaded; try again later.",
      {},
    );
  }
}
