import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Keeps a caller's (or proxy's) request id when it looks like one, otherwise makes a new one,
 * and echoes it on the response. Anything else would let callers inject text into logs.
 */
export function assignRequestId(
  request: IncomingMessage,
  response: ServerResponse,
): string {
  const incoming = request.headers['x-request-id'];
  const id =
    typeof incoming === 'string' && ACCEPTABLE_REQUEST_ID.test(incoming)
      ? incoming
      : randomUUID();
  response.setHeader(REQUEST_ID_HEADER, id);
  return id;
}
