import type { IncomingMessage, ServerResponse } from 'node:http';
import { assignRequestId } from './request-id';

function exchange(incoming?: string) {
  const headers: Record<string, string> = {};
  const request = {
    headers: incoming === undefined ? {} : { 'x-request-id': incoming },
  } as unknown as IncomingMessage;
  const response = {
    setHeader: (name: string, value: string) => (headers[name] = value),
  } as unknown as ServerResponse;
  return { id: assignRequestId(request, response), headers };
}

describe('assignRequestId', () => {
  it('makes a UUID when none is given and echoes it', () => {
    const { id, headers } = exchange();
    expect(id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(headers['X-Request-Id']).toBe(id);
  });

  it('keeps a well-formed incoming id', () => {
    expect(exchange('gateway-01:abc.DEF_123').id).toBe(
      'gateway-01:abc.DEF_123',
    );
  });

  it.each([
    'short',
    'has space in it',
    'line\nbreak-injection',
    '{"json":1}',
    'x'.repeat(129),
  ])('replaces %p', (incoming) => {
    expect(exchange(incoming).id).not.toBe(incoming);
  });
});
