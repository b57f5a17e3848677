import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import {
  EncryptionError,
  EncryptionErrorCode,
} from '@vault-pii/nest-encryption';
import type { Response } from 'express';

// A Record over every code: a code added by a later version of the library fails the build.
const STATUS: Record<EncryptionErrorCode, number> = {
  key_unavailable: 500,
  session_locked: 401,
  vault_unavailable: 503,
  data_integrity_error: 500,
  rotation_in_progress: 409,
};

/** The library's errors as HTTP answers; their `detail` never holds values, keys or PII. */
@Catch(EncryptionError)
export class EncryptionErrorFilter implements ExceptionFilter {
  catch(error: EncryptionError, host: ArgumentsHost): void {
    const status = STATUS[error.code];
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(status)
      .json({ statusCode: status, code: error.code, message: error.detail });
  }
}
