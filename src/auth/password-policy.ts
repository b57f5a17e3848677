import { dictionary } from '@zxcvbn-ts/language-common';
import { registerDecorator, ValidationOptions } from 'class-validator';

/**
 * docs/security.md#passwords: 12 to 256 characters, no composition rules, no truncation, not a
 * common password.
 */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/** ~49,000 leaked and common passwords (zxcvbn-ts's list), compared case-insensitively. */
const COMMON_PASSWORDS = new Set(
  dictionary.passwords.map((password) => password.toLowerCase()),
);
/** Longer passwords cannot be on the list: they are not lower-cased, which would leave a copy. */
const LONGEST_COMMON_PASSWORD = Math.max(
  ...[...COMMON_PASSWORDS].map((password) => password.length),
);

export type PasswordProblem = 'too_short' | 'too_long' | 'too_common';

/** Length counts Unicode code points, after NFC, as the KDF sees the password. */
export function checkPassword(password: string): PasswordProblem | undefined {
  const length = [...password.normalize('NFC')].length;
  if (length < PASSWORD_MIN_LENGTH) return 'too_short';
  if (length > PASSWORD_MAX_LENGTH) return 'too_long';
  if (
    (password.length <= LONGEST_COMMON_PASSWORD &&
      COMMON_PASSWORDS.has(password.toLowerCase())) ||
    isRepetition(password)
  ) {
    return 'too_common';
  }
  return undefined;
}

/** "aaaaaaaaaaaa", "abcabcabcabc": one short unit repeated. */
function isRepetition(password: string): boolean {
  for (let unit = 1; unit <= 4; unit++) {
    if (
      password.length % unit === 0 &&
      password === password.slice(0, unit).repeat(password.length / unit)
    )
      return true;
  }
  return false;
}

const MESSAGES: Record<PasswordProblem, string> = {
  too_short: `must be at least ${PASSWORD_MIN_LENGTH} characters`,
  too_long: `must be at most ${PASSWORD_MAX_LENGTH} characters`,
  too_common: 'is too common; choose a longer or less predictable one',
};

/** class-validator decorator applying `checkPassword`; the message never contains the password. */
export function IsAcceptablePassword(
  options?: ValidationOptions,
): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isAcceptablePassword',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && checkPassword(value) === undefined,
        defaultMessage: (args) =>
          typeof args?.value === 'string'
            ? `${args.property} ${MESSAGES[checkPassword(args.value) ?? 'too_short']}`
            : `${args?.property} must be a string`,
      },
    });
  };
}
