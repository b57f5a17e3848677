import { Transform } from 'class-transformer';
import { registerDecorator, ValidationOptions } from 'class-validator';
import {
  EMAIL_MAX_LENGTH,
  EmailProblem,
  normalizeEmailAddress,
} from '../../crypto/email-address';

const MESSAGES: Record<EmailProblem, string> = {
  too_long: `must be at most ${EMAIL_MAX_LENGTH} characters`,
  invisible_character:
    'must not contain invisible, formatting or control characters',
  invalid_domain: 'must have a valid domain',
  invalid_address: 'must be an email address',
};

/**
 * Every email field and query parameter of the API (docs/http-api.md#emails): replaces the value
 * with its canonical form (`normalizeEmailAddress`), then refuses what has none, naming the
 * reason, never the value. The transform runs before validation (the global `ValidationPipe` has
 * `transform: true`); a value without a canonical form is left as sent, for the message.
 */
export function IsNormalizedEmail(
  options?: ValidationOptions,
): PropertyDecorator {
  const toCanonical = Transform(({ value }: { value: unknown }) => {
    if (typeof value !== 'string') return value;
    const normalized = normalizeEmailAddress(value);
    return normalized.ok ? normalized.email : value;
  });
  return (target: object, propertyName: string | symbol) => {
    toCanonical(target, propertyName);
    registerDecorator({
      name: 'isNormalizedEmail',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && normalizeEmailAddress(value).ok,
        defaultMessage: (args) => {
          if (typeof args?.value !== 'string')
            return `${args?.property} must be a string`;
          const normalized = normalizeEmailAddress(args.value);
          return `${args.property} ${normalized.ok ? MESSAGES.invalid_address : MESSAGES[normalized.problem]}`;
        },
      },
    });
  };
}
