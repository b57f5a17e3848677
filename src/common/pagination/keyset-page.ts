import { Brackets, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { decodePageCursor, encodePageCursor } from './page-cursor';
import { DEFAULT_PAGE_SIZE, PageQueryDto } from './page-query.dto';

/** One page of a cursor-paginated list (docs/http-api.md#pagination). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageOrder {
  /**
   * SQL for the creation time as the cursor holds it, to milliseconds. Default
   * `<alias>.createdAt`, right for a `timestamptz(3)` column; a microsecond column needs
   * `date_trunc('milliseconds', <alias>.created_at)`, or rows within one millisecond of the
   * cursor would be skipped or repeated.
   */
  createdAt?: string;
}

/**
 * Reads one page of `builder`'s rows, newest first by (`alias.createdAt`, `alias.id`): the rows
 * after `query.cursor`, at most `query.limit` of them. One more row is fetched to tell whether a
 * next page exists, so the last page says `nextCursor: null` without a second query. For
 * queries without joins (LIMIT applies to rows).
 * @throws DomainError(validation_failed) for a cursor this API did not issue.
 */
export async function readPage<
  Row extends ObjectLiteral & { createdAt: Date; id: string },
  Item,
>(
  builder: SelectQueryBuilder<Row>,
  alias: string,
  query: PageQueryDto,
  toItem: (row: Row) => Item,
  order: PageOrder = {},
): Promise<Page<Item>> {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  const createdAt = order.createdAt ?? `${alias}.createdAt`;
  builder
    .orderBy(createdAt, 'DESC')
    .addOrderBy(`${alias}.id`, 'DESC')
    .limit(limit + 1);
  if (query.cursor !== undefined) {
    const cursor = decodePageCursor(query.cursor);
    builder.andWhere(
      new Brackets((after) =>
        after
          .where(`${createdAt} < :cursorCreatedAt`, {
            cursorCreatedAt: cursor.createdAt,
          })
          .orWhere(
            `${createdAt} = :cursorCreatedAt AND ${alias}.id < :cursorId`,
            { cursorId: cursor.id },
          ),
      ),
    );
  }
  const rows = await builder.getMany();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toItem),
    nextCursor: rows.length > limit && last ? encodePageCursor(last) : null,
  };
}
