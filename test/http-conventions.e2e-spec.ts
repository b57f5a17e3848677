import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Type } from 'class-transformer';
import {
  IsEmail,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import request, { type Response } from 'supertest';
import { Public } from '../src/common/auth/public.decorator';
import { JSON_BODY_LIMIT_BYTES } from '../src/common/http/json-body.middleware';
import { DomainError } from '../src/common/problem/domain-error';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

const CANARY_EMAIL = 'canary.person@example.org';
const CANARY_SECRET = 'Canary-Secret-0451';

class AddressProbe {
  @IsString()
  @Length(1, 20)
  city: string;
}

class ProbeBody {
  @IsEmail()
  email: string;

  @IsInt()
  @Min(1)
  @Max(10)
  count: number;

  @IsOptional()
  @ValidateNested()
  @Type(() => AddressProbe)
  address?: AddressProbe;
}

/** Routes that exist only in this test, to drive the global pipe and filter through real HTTP. */
@Public()
@Controller('probe')
class ProbeController {
  @Post('echo')
  @HttpCode(200)
  echo(@Body() body: ProbeBody): { count: number } {
    return { count: body.count };
  }

  @Get('crash')
  crash(): never {
    throw new Error(
      `database said: duplicate key (email)=(${CANARY_EMAIL}) password=${CANARY_SECRET}`,
    );
  }

  @Get('domain-error')
  domainError(): never {
    throw new DomainError('conflict', 'That resource already exists.');
  }
}

describe('HTTP conventions (docs/http-api.md#conventions)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp({ extra: { controllers: [ProbeController] } });
  });
  afterAll(() => t?.close());

  it('accepts a valid body', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .send({ email: 'a@example.org', count: 3 });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ count: 3 });
  });

  it('answers 400 validation_failed with errors per field, without echoing values', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .send({ email: CANARY_SECRET, count: 11, address: { city: '' } });
    expectProblem(response, 400, 'validation_failed');
    const fields = bodyOf<ProblemDetails>(response)
      .errors?.map((e) => e.field)
      .sort();
    expect(fields).toEqual(['address.city', 'count', 'email']);
    expect(bodyOf<ProblemDetails>(response).errors).toContainEqual({
      field: 'address.city',
      pointer: '#/address/city',
      messages: [expect.stringContaining('city')],
    });
    expect(JSON.stringify(response.body)).not.toContain(CANARY_SECRET);
  });

  it('rejects unknown fields (400)', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .send({ email: 'a@example.org', count: 1, isAdmin: true });
    expectProblem(response, 400, 'validation_failed');
    expect(bodyOf<ProblemDetails>(response).errors).toEqual([
      {
        field: 'isAdmin',
        pointer: '#/isAdmin',
        messages: ['property isAdmin should not exist'],
      },
    ]);
  });

  it('does not coerce wrong types (400)', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .send({ email: 'a@example.org', count: '3' });
    expectProblem(response, 400, 'validation_failed');
    expect(
      bodyOf<ProblemDetails>(response).errors?.map((e) => e.field),
    ).toEqual(['count']);
  });

  it.each([
    ['an array', 'validation_failed', '[1,2]'],
    ['null', 'malformed_json', 'null'],
    ['a string', 'malformed_json', '"hello"'],
    ['an empty body', 'validation_failed', ''],
  ])('rejects %s as the body (400 %s)', async (_name, code, raw) => {
    const response = await http()
      .post('/v1/probe/echo')
      .set('Content-Type', 'application/json')
      .send(raw);
    expectProblem(response, 400, code);
  });

  it('answers malformed JSON with 400 malformed_json, without echoing the body', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .set('Content-Type', 'application/json')
      .send(`{"email": "${CANARY_EMAIL}", `);
    expectProblem(response, 400, 'malformed_json');
    expect(JSON.stringify(response.body)).not.toContain(CANARY_EMAIL);
  });

  it('answers a body over the limit with 413 payload_too_large', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .set('Content-Type', 'application/json')
      .send(
        JSON.stringify({
          email: 'a@example.org',
          count: 1,
          pad: 'x'.repeat(JSON_BODY_LIMIT_BYTES),
        }),
      );
    expectProblem(response, 413, 'payload_too_large');
  });

  describe('a body too large to read', () => {
    /**
     * Announces (or streams chunked) a 100 MB body and keeps sending 64 KiB writes as fast as the
     * server takes them, for at most 8 s: resolves what came back, how much was sent and when the
     * server closed the connection.
     */
    async function sendEndlessBody(framing: 'content-length' | 'chunked') {
      const server = t.app.getHttpServer();
      if (!server.listening)
        await new Promise<void>((resolve) =>
          server.listen(0, '127.0.0.1', resolve),
        );
      const { port } = server.address() as AddressInfo;
      return new Promise<{
        answer: string;
        sent: number;
        closedAfterMs: number;
      }>((resolve) => {
        const started = Date.now();
        const socket = connect(port, '127.0.0.1');
        const received: Buffer[] = [];
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(giveUp);
          socket.destroy();
          resolve({
            answer: Buffer.concat(received).toString('utf8'),
            sent,
            closedAfterMs: Date.now() - started,
          });
        };
        const giveUp = setTimeout(finish, 8000);
        const pump = () => {
          while (!done && !socket.destroyed) {
            const framed =
              framing === 'chunked'
                ? Buffer.concat([
                    Buffer.from(`${chunk.length.toString(16)}\r\n`),
                    chunk,
                    Buffer.from('\r\n'),
                  ])
                : chunk;
            sent += chunk.length;
            if (!socket.write(framed)) return socket.once('drain', pump);
          }
        };
        socket.on('data', (data: Buffer) => received.push(data));
        socket.on('end', finish);
        socket.on('close', finish);
        socket.on('error', () => undefined);
        socket.on('connect', () => {
          socket.write(
            'POST /v1/probe/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
              'Content-Type: application/json\r\n' +
              (framing === 'chunked'
                ? 'Transfer-Encoding: chunked\r\n\r\n'
                : `Content-Length: ${100 * 1024 * 1024}\r\n\r\n`),
          );
          pump();
        });
      });
    }

    it.each(['content-length', 'chunked'] as const)(
      'answers 413 with Connection: close and stops reading (%s)',
      async (framing) => {
        const { answer, sent, closedAfterMs } = await sendEndlessBody(framing);
        expect(answer).toMatch(/^HTTP\/1\.1 413 /);
        expect(answer).toMatch(/\r\nconnection: close\r\n/i);
        expect(answer).toContain('"code":"payload_too_large"');
        // The server hung up long before the 100 MB (or the endless chunks) were through.
        expect(closedAfterMs).toBeLessThan(5000);
        expect(sent).toBeLessThan(50 * 1024 * 1024);
        expect((await http().get('/health/live')).status).toBe(200);
      },
    );
  });

  it('answers a non-JSON body with 415 unsupported_media_type', async () => {
    const response = await http()
      .post('/v1/probe/echo')
      .set('Content-Type', 'text/plain')
      .send('email=a');
    expectProblem(response, 415, 'unsupported_media_type');
  });

  it('answers an unknown route with 404, without echoing its query string', async () => {
    const response = await http().get(
      `/v1/nowhere?email=${encodeURIComponent(CANARY_EMAIL)}`,
    );
    expectProblem(response, 404, 'not_found');
    expect(bodyOf<ProblemDetails>(response).instance).toBe('/v1/nowhere');
    expect(JSON.stringify(response.body)).not.toContain('canary');
  });

  it('repeats a path only in `instance`, never in the detail (unknown route, bad percent-encoding)', async () => {
    const unknown = await http().delete('/v1/auth/sessions/CanaryPath/..');
    expectProblem(unknown, 404, 'not_found');
    expect(bodyOf<ProblemDetails>(unknown).detail).not.toContain('Canary');

    for (const segment of ['CanaryPath%ED%A0%80', 'CanaryPath%zz']) {
      const undecodable = await http().delete(`/v1/auth/sessions/${segment}`);
      expectProblem(undecodable, 400, 'bad_request');
      const { detail, instance, ...rest } = bodyOf<ProblemDetails>(undecodable);
      expect(instance).toContain('CanaryPath');
      expect(JSON.stringify({ detail, ...rest })).not.toContain('Canary');
    }
  });

  it('maps a DomainError to its code and status', async () => {
    const response = await http().get('/v1/probe/domain-error');
    expectProblem(response, 409, 'conflict');
    expect(bodyOf<ProblemDetails>(response).detail).toBe(
      'That resource already exists.',
    );
  });

  it('answers an unexpected error with a generic 500 and logs it without its message', async () => {
    const response = await http().get('/v1/probe/crash');
    expectProblem(response, 500, 'internal_error');
    const body = JSON.stringify(response.body);
    expect(body).not.toContain(CANARY_EMAIL);
    expect(body).not.toContain(CANARY_SECRET);
    expect(body).not.toMatch(/database said|at \//);

    const errorLine = t.logs.find((line) => line.msg === 'unhandled error');
    expect(errorLine).toMatchObject({
      err: { type: 'Error', stack: expect.stringContaining('ProbeController') },
    });
    const allLogs = JSON.stringify(t.logs);
    expect(allLogs).not.toContain(CANARY_EMAIL);
    expect(allLogs).not.toContain(CANARY_SECRET);
  });

  it('keeps serving after errors', async () => {
    await http().get('/v1/probe/crash');
    expect((await http().get('/health/live')).status).toBe(200);
  });

  describe('requests Node cannot parse (answered before Express sees them)', () => {
    /** Sends `bytes` on a raw connection and reads the answer until the server closes it. */
    async function rawExchange(bytes: string): Promise<{
      status: number;
      headers: Record<string, string>;
      text: string;
      body: Record<string, unknown>;
    }> {
      const server = t.app.getHttpServer();
      if (!server.listening)
        await new Promise<void>((resolve) =>
          server.listen(0, '127.0.0.1', resolve),
        );
      const { port } = server.address() as AddressInfo;
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', reject);
        socket.end(bytes);
      });
      const [head, text] = [
        answer.slice(0, answer.indexOf('\r\n\r\n')),
        answer.slice(answer.indexOf('\r\n\r\n') + 4),
      ];
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 1).trim(),
        ]),
      );
      return {
        status: Number(statusLine.split(' ')[1]),
        headers,
        text,
        body: JSON.parse(text) as Record<string, unknown>,
      };
    }

    /** The API's problem+json (`expectProblem`), with no path read and the connection closed. */
    function expectRawProblem(
      answer: Awaited<ReturnType<typeof rawExchange>>,
      status: number,
      code: string,
    ): void {
      expectProblem(answer as unknown as Response, status, code, [
        CANARY_SECRET,
      ]);
      expect(answer.body.instance).toBe('/');
      expect(answer.headers['connection']).toBe('close');
    }

    it('answers headers over 16 KiB with 431 problem+json, echoing none of them', async () => {
      const answer = await rawExchange(
        `GET /v1/probe/echo?x=${CANARY_SECRET} HTTP/1.1\r\nHost: localhost\r\nX-Canary: ${CANARY_SECRET}${'a'.repeat(20_000)}\r\n\r\n`,
      );
      expectRawProblem(answer, 431, 'request_header_fields_too_large');
    });

    it('answers a request that is not HTTP with 400 problem+json', async () => {
      expectRawProblem(
        await rawExchange(
          `GET /v1/probe/echo HTTP/1.1\r\nHost: localhost\r\n${CANARY_SECRET} without a colon\r\n\r\n`,
        ),
        400,
        'bad_request',
      );
      expectRawProblem(
        await rawExchange(
          `\u0000\u0001 not a request line at all ${CANARY_SECRET}\r\n\r\n`,
        ),
        400,
        'bad_request',
      );
    });

    it('keeps serving, and logs the parser error code only', async () => {
      expect((await http().get('/health/live')).status).toBe(200);
      const lines = t.logs.filter(
        (line) => line.msg === 'request could not be parsed',
      );
      expect(lines.length).toBeGreaterThanOrEqual(3);
      expect(lines).toContainEqual(
        expect.objectContaining({
          code: 'request_header_fields_too_large',
          parserError: 'HPE_HEADER_OVERFLOW',
        }),
      );
      expect(JSON.stringify(t.logs)).not.toContain(CANARY_SECRET);
    });
  });

  describe('request id', () => {
    it('gives every response one, and logs the request under it', async () => {
      const response = await http().get('/v1/nowhere');
      const id = response.headers['x-request-id'];
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(t.logs).toContainEqual(
        expect.objectContaining({ req: expect.objectContaining({ id }) }),
      );
    });

    it('keeps a well-formed incoming X-Request-Id', async () => {
      const response = await http()
        .get('/health/live')
        .set('X-Request-Id', 'lb-1234-abcd');
      expect(response.headers['x-request-id']).toBe('lb-1234-abcd');
    });

    it('replaces a malformed incoming X-Request-Id', async () => {
      const response = await http()
        .get('/health/live')
        .set('X-Request-Id', 'bad id\twith spaces');
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('logs', () => {
    it('carry no headers, bodies or query strings', async () => {
      await http()
        .post(`/v1/probe/echo?email=${encodeURIComponent(CANARY_EMAIL)}`)
        .set('Authorization', `Bearer ${CANARY_SECRET}`)
        .set('Cookie', `session=${CANARY_SECRET}`)
        .send({ email: CANARY_EMAIL, count: 1, password: CANARY_SECRET });
      const line = t.logs.find(
        (l) =>
          (l.req as { path?: string } | undefined)?.path === '/v1/probe/echo' &&
          l.msg === 'request completed',
      );
      expect(line).toBeDefined();
      const allLogs = JSON.stringify(t.logs);
      expect(allLogs).not.toContain(CANARY_EMAIL);
      expect(allLogs).not.toContain(CANARY_SECRET);
      expect(allLogs).not.toContain('canary.person');
    });
  });

  it('sends the helmet security headers', async () => {
    const response = await http().get('/health/live');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain(
      "default-src 'self'",
    );
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('sends no ETag (Express would copy every response body, PII and recovery codes included, to compute one)', async () => {
    const register = await http()
      .post('/v1/auth/register')
      .send({
        email: `etag.${Date.now()}@example.org`,
        password: 'a long enough passphrase for etags',
      });
    expect(register.status).toBe(201);
    expect(register.headers.etag).toBeUndefined();
    expect((await http().get('/health/live')).headers.etag).toBeUndefined();
  });
});
