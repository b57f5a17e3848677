import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_CATALOGUE, ErrorCode } from '../problem/error-codes';
import {
  PROBLEM_CONTENT_TYPE,
  problemDetails,
} from '../problem/problem-details';

const logger = new Logger('HttpServer');

/**
 * Node answers a request it cannot parse (headers over its 16 KiB limit, a malformed request
 * line, headers that never finish arriving) by itself, before Express or Nest see it: a bare
 * status line with no body. This makes those answers RFC 9457 problem+json like every other error
 * (`instance` is `/`: the path was not read), logs the error's code only, and closes the
 * connection, as Node does.
 */
export function answerUnparsableRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = problemCodeFor(error.code);
    logger.warn(
      { code, parserError: error.code },
      'request could not be parsed',
    );
    // A client that went away, or a response already under way, gets no second answer (Node's
    // own handler checks the same).
    if (
      !code ||
      !socket.writable ||
      (socket as Duplex & { _httpMessage?: { _headerSent?: boolean } })
        ._httpMessage?._headerSent
    ) {
      socket.destroy();
      return;
    }
    const { status, title } = ERROR_CATALOGUE[code];
    const requestId = randomUUID();
    const json = JSON.stringify(
      problemDetails(code, status, DETAILS[code] ?? title, '/', requestId),
    );
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\n` +
        'Cache-Control: no-store\r\n' +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        json,
    );
  });
}

const DETAILS: Partial<Record<ErrorCode, string>> = {
  request_header_fields_too_large:
    'The request line and headers together exceed the server limit of 16 KiB.',
  request_timeout: 'The request headers did not arrive in time.',
  bad_request: 'The request could not be parsed as HTTP/1.1.',
};

function problemCodeFor(
  parserError: string | undefined,
): ErrorCode | undefined {
  switch (parserError) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'HPE_HEADER_OVERFLOW':
      return 'request_header_fields_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request_timeout';
    default:
      return 'bad_request';
  }
}
