import { Injectable, NestMiddleware } from '@nestjs/common';
import { json } from 'express';
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../problem/domain-error';

/** Body size limit for JSON requests (SPEC §5: too large answers 413). */
export const JSON_BODY_LIMIT_BYTES = 100 * 1024;

const parseJson = json({ limit: JSON_BODY_LIMIT_BYTES, strict: true, type: ['application/json', 'application/*+json'] });
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Parses JSON bodies inside Nest's middleware chain (not as a bare Express middleware), so that
 * the request already has its id and logger, and a parse error reaches the problem+json filter
 * instead of Express's HTML error page. A body in any other media type answers 415.
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  async use(request: Request, response: Response, next: NextFunction): Promise<void> {
    if (METHODS_WITH_BODY.has(request.method) && hasBody(request) && !request.is(['application/json', 'application/*+json'])) {
      throw new DomainError('unsupported_media_type', 'Request bodies must be application/json.');
    }
    await new Promise<void>((resolve, reject) =>
      parseJson(request, response, (error?: unknown) => (error ? reject(asClientBodyError(error)) : resolve())),
    );
    next();
  }
}

/**
 * body-parser tags its own errors with a `type` (the problem filter maps those), but passes a
 * stream error through as a bare 400 with no `type`: a corrupt gzip/deflate body (zlib's
 * `Z_DATA_ERROR`) would otherwise surface as a 500. Such a body is the client's fault.
 */
function asClientBodyError(error: unknown): unknown {
  const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
  if (type === undefined && typeof status === 'number' && status >= 400 && status < 500) {
    return new DomainError('bad_request', 'The request body could not be read (bad content encoding?).');
  }
  return error;
}

function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
