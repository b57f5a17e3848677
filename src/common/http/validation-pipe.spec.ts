import { Type } from 'class-transformer';
import { IsEmail, IsInt, ValidateNested } from 'class-validator';
import { RequestValidationError } from '../problem/domain-error';
import { createValidationPipe } from './validation-pipe';

class Inner {
  @IsInt()
  'odd/key~name': number;
}

class Outer {
  @IsEmail()
  email: string;

  @ValidateNested()
  @Type(() => Inner)
  inner: Inner;
}

describe('createValidationPipe', () => {
  const pipe = createValidationPipe();
  const validate = (value: unknown): Promise<unknown> =>
    pipe.transform(value, { type: 'body', metatype: Outer });
  const rejection = async (value: unknown): Promise<RequestValidationError> => {
    const error = await validate(value).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestValidationError);
    return error as RequestValidationError;
  };

  it('reports nested fields with a dotted path and an escaped JSON pointer', async () => {
    const error = await rejection({
      email: 'nope',
      inner: { 'odd/key~name': 'x' },
      extra: 1,
    });
    expect(error.errors).toEqual([
      {
        field: 'extra',
        pointer: '#/extra',
        messages: ['property extra should not exist'],
      },
      {
        field: 'email',
        pointer: '#/email',
        messages: ['email must be an email'],
      },
      {
        field: 'inner.odd/key~name',
        pointer: '#/inner/odd~1key~0name',
        messages: [expect.stringContaining('integer')],
      },
    ]);
  });

  it('never puts the rejected value into a message', async () => {
    const error = await rejection({
      email: 'secret-value-123',
      inner: { 'odd/key~name': 1 },
    });
    expect(JSON.stringify(error.errors)).not.toContain('secret-value-123');
  });

  it('returns a class instance for valid input', async () => {
    const value = await validate({
      email: 'a@example.org',
      inner: { 'odd/key~name': 1 },
    });
    expect(value).toBeInstanceOf(Outer);
    expect((value as Outer).inner).toBeInstanceOf(Inner);
  });

  it.each(['__proto__', 'prototype', 'constructor'])(
    'rejects a "%s" key like any unknown field (the stock pipe drops it)',
    async (key) => {
      const body: unknown = JSON.parse(
        `{"email": "a@example.org", "inner": {"odd/key~name": 1, "${key}": {"x": 1}}}`,
      );
      const error = await rejection(body);
      expect(error.errors).toEqual([
        {
          field: `inner.${key}`,
          pointer: `#/inner/${key}`,
          messages: [`property ${key} should not exist`],
        },
      ]);
    },
  );

  it('rejects a body nested too deeply for the recursive transform, instead of overflowing the stack', async () => {
    const body: unknown = JSON.parse(
      `{"email": "a@example.org", "deep": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`,
    );
    const error = await rejection(body);
    expect(error.errors).toEqual([
      {
        field: 'deep',
        pointer: '#/deep',
        messages: ['deep is nested too deeply'],
      },
    ]);
  });
});
