import { Agent, request as httpRequest } from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The problem `code` of an error answer, when it has one. */
  code?: string;
}

export interface HttpRequest {
  method: string;
  path: string;
  token?: string;
  /** A value is sent as JSON; a string or Buffer as is (with `contentType`). */
  json?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A small keep-alive HTTP/1.1 client for 127.0.0.1 (node:http: one socket per request in flight,
 * reused). A transport failure (refused, reset, timed out) rejects; any HTTP answer resolves.
 */
export class HttpClient {
  readonly agent: Agent;

  constructor(
    private readonly port: number,
    maxSockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /**
   * Sends `req`. A reset on a reused keep-alive socket is tried once more on a new one: the server
   * closed that idle socket as the request went out (its keep-alive timeout, while this loaded
   * client's own timer to drop the socket first ran late), so the server never read it; Node's
   * documentation recommends exactly this retry (`request.reusedSocket`). A reset of a request
   * the server was serving (it died meanwhile) is retried too and then finds it gone
   * (ECONNREFUSED): an outcome unknown either way, as the suite counts it.
   */
  async send(req: HttpRequest): Promise<HttpAnswer> {
    try {
      return await this.sendOnce(req);
    } catch (error) {
      if ((error as { retryOnNewSocket?: boolean }).retryOnNewSocket)
        return this.sendOnce(req);
      throw error;
    }
  }

  private sendOnce(req: HttpRequest): Promise<HttpAnswer> {
    let payload: Buffer | undefined;
    const headers: Record<string, string> = { ...req.headers };
    if (req.json !== undefined) {
      payload = Buffer.from(JSON.stringify(req.json), 'utf8');
      headers['content-type'] = req.contentType ?? 'application/json';
    } else if (req.raw !== undefined) {
      payload = Buffer.isBuffer(req.raw) ? req.raw : Buffer.from(req.raw);
      if (req.contentType) headers['content-type'] = req.contentType;
    }
    if (payload) headers['content-length'] = String(payload.length);
    if (req.token) headers.authorization = `Bearer ${req.token}`;
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method: req.method,
          path: req.path,
          headers,
          agent: this.agent,
          timeout: req.timeoutMs ?? 30_000,
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('error', reject);
          incoming.on('aborted', () =>
            reject(Object.assign(new Error('aborted'), { code: 'EABORTED' })),
          );
          incoming.on('end', () => {
            const body = Buffer.concat(chunks);
            const answer: HttpAnswer = {
              status: incoming.statusCode ?? 0,
              headers: incoming.headers,
              body,
            };
            if (answer.status >= 400) answer.code = problemCode(body);
            resolve(answer);
          });
        },
      );
      outgoing.on('timeout', () =>
        outgoing.destroy(
          Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }),
        ),
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          outgoing.reusedSocket && error.code === 'ECONNRESET'
            ? Object.assign(error, { retryOnNewSocket: true })
            : error,
        ),
      );
      outgoing.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export function problemCode(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { code?: unknown };
    return typeof parsed.code === 'string' ? parsed.code : undefined;
  } catch {
    return undefined;
  }
}

export function jsonOf<T>(answer: HttpAnswer): T {
  return JSON.parse(answer.body.toString('utf8')) as T;
}

/** The name a transport failure is counted under (`ECONNREFUSED`, `ECONNRESET`, …). */
export function transportErrorName(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code ?? (error as Error)?.message ?? 'unknown';
}
