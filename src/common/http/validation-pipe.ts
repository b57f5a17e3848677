import { ValidationError, ValidationPipe } from '@nestjs/common';
import { FieldError, RequestValidationError } from '../problem/domain-error';

/**
 * SPEC §5: unknown fields are rejected, wrong types are not coerced, and each failure is
 * reported per field. Messages come from the constraints only; the rejected value is never echoed.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: false,
    exceptionFactory: (errors) => new RequestValidationError(flattenValidationErrors(errors)),
  });
}

export function flattenValidationErrors(errors: ValidationError[], parentPath: string[] = []): FieldError[] {
  return errors.flatMap((error) => {
    const path = error.property ? [...parentPath, error.property] : parentPath;
    const own: FieldError[] = error.constraints
      ? [
          {
            field: path.length > 0 ? path.join('.') : '(body)',
            pointer: `#${path.map((segment) => `/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')}`,
            messages: Object.values(error.constraints),
          },
        ]
      : [];
    return [...own, ...flattenValidationErrors(error.children ?? [], path)];
  });
}
