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
      parseJson(request, response, (error?: unknown) => (error ? reject(error) : resolve())),
    );
    next();
  }
}

function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
