import { Injectable, NestMiddleware } from '@nestjs/common';
import { json } from 'express';
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../problem/domain-error';

/** Body size limit for JSON requests (docs/http-api.md#request-bodies: too large answers 413). */
export const JSON_BODY_LIMIT_BYTES = 100 * 1024;

const JSON_TYPES = ['application/json', 'application/*+json'];
/** The Buffers that held each request's body bytes, wiped once it is parsed. */
const bodyBuffers = new WeakMap<Request, Buffer[]>();
// `verify` hands over the body as read, in one Buffer (then decoded into one string: the body of
// several chunks is not decoded chunk by chunk into strings joined together).
const parseJson = json({
  limit: JSON_BODY_LIMIT_BYTES,
  strict: true,
  type: JSON_TYPES,
  verify: (request, _response, body) =>
    bodyBuffers.get(request as Request)?.push(body),
});
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Parses JSON bodies inside Nest's middleware chain (not as a bare Express middleware), so that
 * the request already has its id and logger, and a parse error reaches the problem+json filter
 * instead of Express's HTML error page. A body in any other media type answers 415.
 *
 * Bodies carry passwords and recovery codes (issue 12): once parsed, every Buffer that held the
 * body's bytes (each chunk Node's HTTP parser copied out of its read buffer, and the whole body
 * as body-parser joined it) is zero-filled, rather than freed with the bytes in it. What remains
 * is what JavaScript cannot wipe: the body's text and its values as V8 strings, and Node's own
 * read buffer (docs/crypto.md, "Keys in memory").
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  async use(
    request: Request,
    response: Response,
    next: NextFunction,
  ): Promise<void> {
    const withBody = hasBody(request);
    if (
      METHODS_WITH_BODY.has(request.method) &&
      withBody &&
      !request.is(JSON_TYPES)
    ) {
      throw new DomainError(
        'unsupported_media_type',
        'Request bodies must be application/json.',
      );
    }
    const isJson = withBody && request.is(JSON_TYPES) !== false;
    // A declared length over the limit is refused before a byte of the body is read.
    if (isJson && declaredLength(request) > JSON_BODY_LIMIT_BYTES)
      throw payloadTooLarge();
    const buffers: Buffer[] = [];
    let collected = 0;
    let refuse: ((error: Error) => void) | undefined;
    // Listened to only when body-parser reads the body too (a 'data' listener makes the stream
    // flow). Past the limit (a chunked body, or bytes beyond a lying Content-Length) the request is
    // refused at once: body-parser would answer only once the client stopped sending, reading and
    // discarding everything until then, without end for an endless chunked body.
    const collect = (chunk: unknown) => {
      if (!Buffer.isBuffer(chunk)) return;
      buffers.push(chunk);
      collected += chunk.length;
      if (collected > JSON_BODY_LIMIT_BYTES) {
        request.off('data', collect);
        refuse?.(payloadTooLarge());
      }
    };
    if (isJson) {
      bodyBuffers.set(request, buffers);
      request.on('data', collect);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        refuse = reject;
        parseJson(request, response, (error?: Error) =>
          error ? reject(asClientBodyError(error)) : resolve(),
        );
      });
    } finally {
      request.off('data', collect);
      bodyBuffers.delete(request);
      for (const buffer of buffers) buffer.fill(0);
    }
    next();
  }
}

/**
 * body-parser tags its own errors with a `type` (the problem filter maps those), but passes a
 * stream error through as a bare 400 with no `type`: a corrupt gzip/deflate body (zlib's
 * `Z_DATA_ERROR`) would otherwise surface as a 500. Such a body is the client's fault.
 */
function asClientBodyError(error: Error): Error {
  const { type, status } = error as Error & {
    type?: unknown;
    status?: unknown;
  };
  if (
    type === undefined &&
    typeof status === 'number' &&
    status >= 400 &&
    status < 500
  ) {
    return new DomainError(
      'bad_request',
      'The request body could not be read (bad content encoding?).',
    );
  }
  return error;
}

/**
 * 413, sent with `Connection: close` by the problem filter: the rest of the body is never read,
 * and the connection cannot be reused with part of a body still in it.
 */
function payloadTooLarge(): DomainError {
  return new DomainError(
    'payload_too_large',
    `The request body exceeds the limit of ${JSON_BODY_LIMIT_BYTES} bytes.`,
  );
}

function declaredLength(request: Request): number {
  const length = Number(request.headers['content-length']);
  return Number.isFinite(length) ? length : 0;
}

function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return (
    request.headers['transfer-encoding'] !== undefined ||
    (length !== undefined && length !== '0')
  );
}
