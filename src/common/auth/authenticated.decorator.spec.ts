import { Controller, Get, Post } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { BEARER_AUTH_NAME } from '../openapi/bearer-auth';
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
}

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
        '`invalid_token`: Invalid or expired token; `session_locked`: The session is locked; log in again',
      exampleCode: 'invalid_token',
    });
    expect(described(get, '503')).toEqual({
      description: '`vault_unavailable`: The session key store is unavailable',
      exampleCode: 'vault_unavailable',
    });
  });

  it("joins the route's own codes of the same status into one entry, the route's first", () => {
    const { post } = operations;
    expect(Object.keys(post.responses).sort()).toEqual(['400', '401', '503']);
    expect(described(post, '401')).toEqual({
      description:
        '`invalid_credentials`: Invalid credentials; `invalid_token`: Invalid or expired token; `session_locked`: The session is locked; log in again',
      exampleCode: 'invalid_credentials',
    });
    expect(described(post, '400').exampleCode).toBe('validation_failed');
  });
});
