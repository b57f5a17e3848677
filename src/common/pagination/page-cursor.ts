import { DomainError } from '../problem/domain-error';

/**
 * Position after the last item of a page of a list sorted newest first by (createdAt, id), as
 * contacts, documents and sessions are. Opaque to clients.
 */
export interface PageCursor {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/**
 * What `Date.toISOString()` writes for years 0000–9999: the only form we issue, and one
 * PostgreSQL's timestamp accepts (a date like -005000-… would fail there: "out of range").
 */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function encodePageCursor(cursor: PageCursor): string {
  return Buffer.from(
    `${cursor.createdAt.toISOString()}|${cursor.id}`,
    'utf8',
  ).toString('base64url');
}

/** @throws DomainError(validation_failed) for anything we did not issue. */
export function decodePageCursor(value: string): PageCursor {
  const [iso, id, extra] = Buffer.from(value, 'base64url')
    .toString('utf8')
    .split('|');
  const createdAt = new Date(iso ?? '');
  if (
    extra !== undefined ||
    !id ||
    !UUID.test(id) ||
    !ISO_TIMESTAMP.test(iso ?? '') ||
    Number.isNaN(createdAt.getTime()) ||
    createdAt.toISOString() !== iso
  ) {
    throw new DomainError('validation_failed', 'The cursor is not valid.', {
      errors: [
        {
          field: 'cursor',
          pointer: '#/cursor',
          messages: ['cursor must be a nextCursor returned by this API'],
        },
      ],
    });
  }
  return { createdAt, id };
}
