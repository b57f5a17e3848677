import {
  ArgumentMetadata,
  ValidationError,
  ValidationPipe,
} from '@nestjs/common';
import { FieldError, RequestValidationError } from '../problem/domain-error';

/**
 * docs/http-api.md#request-bodies: unknown fields are rejected, wrong types are not coerced, and
 * each failure is reported per field. Messages come from the constraints only; the rejected value
 * is never echoed.
 */
export function createValidationPipe(): ValidationPipe {
  return new StrictBodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: false,
    exceptionFactory: (errors) =>
      new RequestValidationError(flattenValidationErrors(errors)),
  });
}

/**
 * Two gaps of the stock pipe on request bodies, closed before it runs:
 * - it deletes `__proto__`, `prototype` and `constructor` keys (prototype-pollution guard)
 *   before `whitelist` looks, so they were silently dropped instead of rejected like any
 *   other unknown field;
 * - it (and class-transformer) walk the body recursively, so a 100 KiB body of nested arrays
 *   overflowed the stack: a 500 for a client error. No DTO nests deeper than a few levels.
 */
class StrictBodyValidationPipe extends ValidationPipe {
  override async transform(
    value: unknown,
    metadata: ArgumentMetadata,
  ): Promise<unknown> {
    if (metadata.type === 'body') {
      const refused = refusedFields(value, [], 0);
      if (refused.size > 0)
        throw new RequestValidationError([...refused.values()]);
    }
    return super.transform(value, metadata);
  }
}

const STRIPPED_KEYS = new Set(['__proto__', 'prototype', 'constructor']);
export const MAX_BODY_DEPTH = 32;

function refusedFields(
  value: unknown,
  path: string[],
  depth: number,
  found = new Map<string, FieldError>(),
): Map<string, FieldError> {
  if (value === null || typeof value !== 'object') return found;
  if (depth >= MAX_BODY_DEPTH) {
    const top = path.slice(0, 1);
    found.set(top.join('.'), {
      field: top.join('.'),
      pointer: toPointer(top),
      messages: [`${top[0]} is nested too deeply`],
    });
    return found;
  }
  for (const key of Object.keys(value)) {
    const here = [...path, key];
    if (STRIPPED_KEYS.has(key)) {
      found.set(here.join('.'), {
        field: here.join('.'),
        pointer: toPointer(here),
        messages: [`property ${key} should not exist`],
      });
    } else {
      refusedFields(
        (value as Record<string, unknown>)[key],
        here,
        depth + 1,
        found,
      );
    }
  }
  return found;
}

/** RFC 6901 JSON Pointer (as a URI fragment) to a field of the request body. */
export function toPointer(path: string[]): string {
  return `#${path.map((segment) => `/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')}`;
}

export function flattenValidationErrors(
  errors: ValidationError[],
  parentPath: string[] = [],
): FieldError[] {
  return errors.flatMap((error) => {
    const path = error.property ? [...parentPath, error.property] : parentPath;
    const own: FieldError[] = error.constraints
      ? [
          {
            field: path.length > 0 ? path.join('.') : '(body)',
            pointer: toPointer(path),
            messages: Object.values(error.constraints),
          },
        ]
      : [];
    return [...own, ...flattenValidationErrors(error.children ?? [], path)];
  });
}
