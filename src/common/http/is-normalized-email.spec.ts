import { plainToInstance } from 'class-transformer';
import { IsOptional, validateSync } from 'class-validator';
import { IsNormalizedEmail } from './is-normalized-email';

class EmailBody {
  @IsNormalizedEmail()
  email: unknown;
}

class OptionalEmailQuery {
  @IsOptional()
  @IsNormalizedEmail()
  email?: unknown;
}

function check<T extends object>(type: new () => T, plain: object) {
  const instance = plainToInstance(type, plain);
  const errors = validateSync(instance);
  return {
    value: (instance as { email?: unknown }).email,
    messages: errors.flatMap((error) => Object.values(error.constraints ?? {})),
  };
}

describe('@IsNormalizedEmail()', () => {
  it('replaces a valid address with its canonical form', () => {
    expect(check(EmailBody, { email: ' ADA@B\u00fccher.de ' })).toEqual({
      value: 'ada@xn--bcher-kva.de',
      messages: [],
    });
    expect(check(OptionalEmailQuery, {})).toEqual({
      value: undefined,
      messages: [],
    });
  });

  it.each([
    [
      '\ud800',
      'email must not contain invisible, formatting or control characters',
    ],
    [
      'ada\u200b@example.org',
      'email must not contain invisible, formatting or control characters',
    ],
    ['ada@exa mple.org', 'email must have a valid domain'],
    [`${'a'.repeat(300)}@example.org`, 'email must be at most 254 characters'],
    ['not-an-email', 'email must be an email address'],
    [42, 'email must be a string'],
    [['ada@example.org'], 'email must be a string'],
    [null, 'email must be a string'],
  ])('refuses %p, naming the reason and never the value', (email, message) => {
    const result = check(EmailBody, { email });
    expect(result.value).toEqual(email);
    expect(result.messages).toEqual([message]);
  });
});
