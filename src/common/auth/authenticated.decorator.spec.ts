import { Controller, Get, Post } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { ACCESS_KEY_AUTH_NAME, BEARER_AUTH_NAME } from '../openapi/bearer-auth';
import { ApiProblemResponses } from '../problem/api-problem-responses';
import { Authenticated } from './authenticated.decorator';

@Controller('probe')
class ProbeController {
  @Get()
  @Authenticated()
  plain(): void {}

  @Post()
  @Authenticated()
  @ApiProblemResponses('validation_failed', 'invalid_credentials')
  withOwnErrors(): void {}

  @Get('scoped')
  @Authenticated({ accessKeyScope: 'contacts:read' })
  scoped(): void {}
}

const ACCESS_KEY_REFUSALS_403 =
  '`insufficient_scope`: The access key does not grant this; `access_key_address_not_allowed`: The access key may not be used from this address';

interface Operation {
  security?: Record<string, string[]>[];
  responses: Record<
    string,
    {
      description: string;
      content: Record<string, { example: { code: string } }>;
    }
  >;
}

describe('@Authenticated()', () => {
  let operations: Record<string, Operation>;
  let scoped: Operation & { 'x-access-key-scope'?: string };

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [ProbeController],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().build(),
    );
    operations = document.paths['/probe'] as unknown as Record<
      string,
      Operation
    >;
    scoped = (document.paths['/probe/scoped'] as unknown as { get: Operation })
      .get;
    await app.close();
  });

  const described = (operation: Operation, status: string) => ({
    description: operation.responses[status]?.description,
    exampleCode:
      operation.responses[status]?.content['application/problem+json'].example
        .code,
  });

  it('documents the bearer scheme and the authentication problems', () => {
    const { get } = operations;
    expect(get.security).toEqual([{ [BEARER_AUTH_NAME]: [] }]);
    expect(described(get, '401')).toEqual({
      description:
        '`invalid_token`: Invalid or expired token; `session_locked`: The session is locked; log in again; `access_key_expired`: The access key has expired',
      exampleCode: 'invalid_token',
    });
    // An access key on a route for sessions only is refused, whatever its scopes.
    expect(described(get, '403')).toEqual({
      description: ACCESS_KEY_REFUSALS_403,
      exampleCode: 'insufficient_scope',
    });
    expect(described(get, '429').description).toBeUndefined();
    expect(described(get, '503')).toEqual({
      description: '`vault_unavailable`: The session key store is unavailable',
      exampleCode: 'vault_unavailable',
    });
  });

  it("joins the route's own codes of the same status into one entry, the route's first", () => {
    const { post } = operations;
    expect(Object.keys(post.responses).sort()).toEqual([
      '400',
      '401',
      '403',
      '503',
    ]);
    expect(described(post, '401')).toEqual({
      description:
        '`invalid_credentials`: Invalid credentials; `invalid_token`: Invalid or expired token; `session_locked`: The session is locked; log in again; `access_key_expired`: The access key has expired',
      exampleCode: 'invalid_credentials',
    });
    expect(described(post, '400').exampleCode).toBe('validation_failed');
  });

  it('with an access-key scope: both schemes as alternatives, the scope, and the per-key 429', () => {
    expect(scoped.security).toEqual([
      { [BEARER_AUTH_NAME]: [] },
      { [ACCESS_KEY_AUTH_NAME]: [] },
    ]);
    expect(scoped['x-access-key-scope']).toBe('contacts:read');
    expect(described(scoped, '403').description).toBe(ACCESS_KEY_REFUSALS_403);
    expect(described(scoped, '429').exampleCode).toBe('too_many_requests');
  });
});
