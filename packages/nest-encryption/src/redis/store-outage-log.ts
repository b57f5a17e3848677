import type { Logger } from '@nestjs/common';
import { describeStoreError } from './describe-store-error';

/**
 * One error line when a store (a limiter's Redis, the vault, the documents volume) stops
 * answering and one line when it answers again, not one per request (the counter keys are never
 * logged: they name an account or an address).
 */
export class StoreOutageLog {
  private failing = false;

  constructor(
    private readonly logger: Logger,
    private readonly messages: {
      /**
       * @param reason the store's error, described without any value.
       * @param during what was being done (`failed`'s second argument), if given.
       */
      down: (reason: string, during?: string) => string;
      up: string;
    },
    /** How `failed` describes an error for the log: never with a value (Redis errors by default). */
    private readonly describe: (error: unknown) => string = describeStoreError,
  ) {}

  failed(error: unknown, during?: string): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.error(this.messages.down(this.describe(error), during));
  }

  answered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.log(this.messages.up);
  }
}
