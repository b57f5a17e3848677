import { DomainError } from '../common/problem/domain-error';

/** A rotation of this user's data key has started and not finished (SPEC §1): one at a time. */
export class RotationInProgressError extends DomainError {
  constructor(
    detail = 'A key rotation of this account is still running; try again once it has finished.',
  ) {
    super('rotation_in_progress', detail);
  }
}
