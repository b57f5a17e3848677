import { DomainError } from './domain-error';

/**
 * A resource that does not exist or belongs to someone else: the two are indistinguishable
 * (docs/http-api.md#conventions).
 */
export class NotFoundError extends DomainError {
  constructor(resource: string) {
    super('not_found', `No such ${resource}.`);
  }
}
