import { ValidateIf } from 'class-validator';

/**
 * A field that may be left out, but when sent is validated, `null` included: `@IsOptional()` lets
 * `null` through, which for a field with no meaning for null (a search term, a page size) would
 * reach the service as a value. Here `{"limit": null}` is refused like any wrong type.
 */
export function IsOptionalNotNull(): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined);
}
