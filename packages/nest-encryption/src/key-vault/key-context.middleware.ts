import { Injectable, NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KeyContext } from './key-context';

/**
 * Runs the rest of each request in a fresh `KeyContext` scope, and zeroes that scope's keyring
 * when the response has been sent or the connection has closed (whichever comes first), so keys
 * never outlive their request. Works with Express and with Fastify's raw request and response.
 */
@Injectable()
export class KeyContextMiddleware implements NestMiddleware<
  IncomingMessage,
  ServerResponse
> {
  use(
    _request: IncomingMessage,
    response: ServerResponse,
    next: (error?: unknown) => void,
  ): void {
    KeyContext.runInScope(() => {
      const releaseScope = KeyContext.scopeReleaser();
      response.once('finish', releaseScope);
      response.once('close', releaseScope);
      next();
    });
  }
}
