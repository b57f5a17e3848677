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
  const validate = (value: unknown) => pipe.transform(value, { type: 'body', metatype: Outer });

  it('reports nested fields with a dotted path and an escaped JSON pointer', async () => {
    const error = await validate({ email: 'nope', inner: { 'odd/key~name': 'x' }, extra: 1 }).catch((e) => e);
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(error.errors).toEqual([
      { field: 'extra', pointer: '#/extra', messages: ['property extra should not exist'] },
      { field: 'email', pointer: '#/email', messages: ['email must be an email'] },
      { field: 'inner.odd/key~name', pointer: '#/inner/odd~1key~0name', messages: [expect.stringContaining('integer')] },
    ]);
  });

  it('never puts the rejected value into a message', async () => {
    const error = await validate({ email: 'secret-value-123', inner: { 'odd/key~name': 1 } }).catch((e) => e);
    expect(JSON.stringify(error.errors)).not.toContain('secret-value-123');
  });

  it('returns a class instance for valid input', async () => {
    const value = await validate({ email: 'a@example.org', inner: { 'odd/key~name': 1 } });
    expect(value).toBeInstanceOf(Outer);
    expect(value.inner).toBeInstanceOf(Inner);
  });

  it.each(['__proto__', 'prototype', 'constructor'])('rejects a "%s" key like any unknown field (the stock pipe drops it)', async (key) => {
    const body = JSON.parse(`{"email": "a@example.org", "inner": {"odd/key~name": 1, "${key}": {"x": 1}}}`);
    const error = await validate(body).catch((e) => e);
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(error.errors).toEqual([{ field: `inner.${key}`, pointer: `#/inner/${key}`, messages: [`property ${key} should not exist`] }]);
  });

  it('rejects a body nested too deeply for the recursive transform, instead of overflowing the stack', async () => {
    const body = JSON.parse(`{"email": "a@example.org", "deep": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
    const error = await validate(body).catch((e) => e);
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(error.errors).toEqual([{ field: 'deep', pointer: '#/deep', messages: ['deep is nested too deeply'] }]);
  });
});
