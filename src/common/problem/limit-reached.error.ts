import { DomainError } from './domain-error';

/**
 * A user already holds as many of something as a setting allows (docs/limits.md#configurable):
 * 409 `limit_reached`, naming the setting (`limit`) and its value (`max`), so a client can tell
 * which bound it met and an operator which variable raises it.
 */
export class LimitReachedError extends DomainError {
  constructor(
    readonly limit: string,
    readonly max: number,
    detail: string,
  ) {
    super('limit_reached', detail, { limit, max });
  }
}
