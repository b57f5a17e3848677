import type { Request } from 'express';

/**
 * Where the problem filter reports a data-integrity failure (a ciphertext that failed to
 * authenticate: tampered, swapped or corrupt). Common code names the need; the audit log fills it
 * (AuditModule provides this token), so common imports no feature.
 */
export abstract class IntegrityFailureRecorder {
  abstract recordIntegrityFailure(
    userId: string | null,
    request: Request,
  ): Promise<void>;
}
