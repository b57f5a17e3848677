import type { Logger } from '@nestjs/common';
import { describeStoreError } from '../../common/redis/describe-store-error';

/**
 * One error line when a limiter's store stops answering and one line when it answers again, not
 * one per request (the counter keys are never logged: they name an account or an address).
 */
export class StoreOutageLog {
  private failing = false;

  constructor(
    private readonly logger: Logger,
    private readonly messages: {
      /** @param reason the store's error, described without any value. */
      down: (reason: string) => string;
      up: string;
    },
  ) {}

  failed(error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.error(this.messages.down(describeStoreError(error)));
  }

  answered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.log(this.messages.up);
  }
}
