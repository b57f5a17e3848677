import { Brackets, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { decodePageCursor, encodePageCursor } from './page-cursor';
import { DEFAULT_PAGE_SIZE, PageQueryDto } from './page-query.dto';

/** One page of a cursor-paginated list (docs/http-api.md#pagination). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Reads one page of `builder`'s rows, newest first by (`alias.createdAt`, `alias.id`): the rows
 * after `query.cursor`, at most `query.limit` of them. One more row is fetched to tell whether a
 * next page exists, so the last page says `nextCursor: null` without a second query.
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
): Promise<Page<Item>> {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  builder
    .orderBy(`${alias}.createdAt`, 'DESC')
    .addOrderBy(`${alias}.id`, 'DESC')
    .take(limit + 1);
  if (query.cursor !== undefined) {
    const cursor = decodePageCursor(query.cursor);
    builder.andWhere(
      new Brackets((after) =>
        after
          .where(`${alias}.createdAt < :cursorCreatedAt`, {
            cursorCreatedAt: cursor.createdAt,
          })
          .orWhere(
            `${alias}.createdAt = :cursorCreatedAt AND ${alias}.id < :cursorId`,
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
