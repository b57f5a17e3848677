import { createServer, request as httpRequest, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../problem/domain-error';
import { ERROR_CATALOGUE } from '../problem/error-codes';
import {
  JSON_BODY_LIMIT_BYTES,
  JsonBodyMiddleware,
} from './json-body.middleware';

/**
 * Issue 12: once a JSON body is parsed, every Buffer that held its bytes is zero-filled (the
 * chunks Node's HTTP parser copied out, and the whole body as body-parser joined them), on
 * success and on a parse error alike.
 */
describe('JsonBodyMiddleware wipes the body bytes it parsed', () => {
  let server: Server;
  let port: number;
  /** What each request's route saw: its parsed body, and whether each Buffer that held the body is all zeros by then. */
  let seen: {
    body?: unknown;
    chunks: Buffer[];
    joined: Buffer[];
    status?: number;
  }[];

  beforeAll(async () => {
    const middleware = new JsonBodyMiddleware();
    const app = express();
    app.use((req: Request, _res: Response, next: NextFunction) => {
      const record = { chunks: [] as Buffer[], joined: [] as Buffer[] };
      seen.push(record);
      // The same chunk objects the middleware and body-parser get.
      req.on('data', (chunk: Buffer) => record.chunks.push(chunk));
      const concat = jest.spyOn(Buffer, 'concat');
      middleware.use(req, _res, next).then(
        () => {
          record.joined.push(
            ...concat.mock.results.map((result) => result.value as Buffer),
          );
          concat.mockRestore();
        },
        (error: unknown) => {
          record.joined.push(
            ...concat.mock.results.map((result) => result.value as Buffer),
          );
          concat.mockRestore();
          next(error);
        },
      );
    });
    app.post('/echo', (req: Request, res: Response) => {
      seen[seen.length - 1].body = req.body;
      res.status(200).json({ ok: true });
    });
    app.use(
      (
        error: { status?: number },
        _req: Request,
        res: Response,
        _next: NextFunction,
      ) => {
        // body-parser's errors carry a status; ours are DomainErrors, as the problem filter sees them.
        const status =
          error instanceof DomainError
            ? ERROR_CATALOGUE[error.code].status
            : (error.status ?? 500);
        seen[seen.length - 1].status = status;
        res.status(status).end();
      },
    );
    server = createServer(app);
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    port = (server.address() as AddressInfo).port;
  });

  beforeEach(() => (seen = []));

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** POSTs `parts` as the body, one write each, `delayMs` apart (several chunks on the server). */
  function post(parts: string[], delayMs = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/echo',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      let i = 0;
      const writeNext = () => {
        if (i === parts.length) return req.end();
        req.write(parts[i++]);
        setTimeout(writeNext, delayMs);
      };
      writeNext();
    });
  }

  const allZero = (buffer: Buffer) => buffer.every((byte) => byte === 0);
  const secret = 'Wipe-me passphrase 8841';

  it('parses a one-chunk body, then zero-fills the chunk and the joined body', async () => {
    expect(
      await post([
        JSON.stringify({ email: 'a@example.org', password: secret }),
      ]),
    ).toBe(200);
    const [record] = seen;
    expect(record.body).toEqual({ email: 'a@example.org', password: secret });
    expect(record.chunks.length).toBeGreaterThan(0);
    expect(record.joined.length).toBeGreaterThan(0);
    expect([...record.chunks, ...record.joined].every(allZero)).toBe(true);
  });

  it('parses a body that arrives in several chunks into one string, then zero-fills every chunk', async () => {
    const text = JSON.stringify({ password: secret, note: 'x'.repeat(2000) });
    expect(
      await post([text.slice(0, 10), text.slice(10, 30), text.slice(30)], 30),
    ).toBe(200);
    const [record] = seen;
    expect(record.body).toEqual(JSON.parse(text));
    expect(record.chunks.length).toBeGreaterThanOrEqual(3);
    expect([...record.chunks, ...record.joined].every(allZero)).toBe(true);
  });

  it('zero-fills the body bytes of a body that does not parse (400)', async () => {
    expect(await post([`{"password":"${secret}",`])).toBe(400);
    const [record] = seen;
    expect(record.status).toBe(400);
    expect(record.chunks.length).toBeGreaterThan(0);
    expect([...record.chunks, ...record.joined].every(allZero)).toBe(true);
  });

  it('still answers 413 for a body over the limit', async () => {
    const big = JSON.stringify({
      password: secret,
      padding: 'y'.repeat(JSON_BODY_LIMIT_BYTES),
    });
    expect(await post([big])).toBe(413);
  });
});
